"""What gets installed is what was locked: every pin of requirements.txt and
requirements-dev.txt is in its lock file at the same version, every locked package carries the
hashes of its files, and the Makefile and the Dockerfile install from the locks with hashes
required. And the audit's reading of pip-audit's report: a vulnerability fails, packages whose
advisories could not be had are named as not audited (and fail with AUDIT_REQUIRED=1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.audit import verdict

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """Return name -> version of each ``name==version`` line of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        if matched := PIN.match(line):
            found[canonical(matched.group(1))] = matched.group(2)
    return found


def entries(lock: Path) -> list[str]:
    """Return each requirement of a lock file with its continuation lines, comments left out."""
    text = re.sub(r"\\\n", " ", lock.read_text())
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize(
    ("pinned", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_every_pin_is_locked_at_its_version_with_hashes(pinned: str, lock: str) -> None:
    locked = pins(ROOT / lock)
    wanted = pins(ROOT / pinned)
    assert wanted, pinned
    stale = {n: (v, locked.get(n)) for n, v in wanted.items() if locked.get(n) != v}
    assert not stale, f"{lock} disagrees with {pinned} (run `make lock`): {stale}"
    unhashed = [e.split()[0] for e in entries(ROOT / lock) if "--hash=sha256:" not in e]
    assert not unhashed, f"locked without hashes: {unhashed}"
    assert len(entries(ROOT / lock)) == len(locked)  # every entry is one exact pin


def test_the_development_lock_keeps_the_runtime_versions() -> None:
    runtime, development = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")
    differ = {n: (v, development.get(n)) for n, v in runtime.items() if development.get(n) != v}
    assert not differ, differ


def test_installs_come_from_the_locks_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"pip install [^\n]*-r (\S+)", makefile)
    assert sorted(installs) == ["requirements-dev.lock", "requirements.lock"], installs
    assert all(
        "--require-hashes" in line for line in re.findall(r".*pip install .*-r .*", makefile)
    )
    docker = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in docker
    assert "-r requirements.txt" not in docker and "COPY requirements.txt" not in docker
    # `make test` audits the lock, and the audit tool is pinned with the other tools.
    assert re.search(r"^test: .*\baudit\b", makefile, re.M)
    assert "pip-audit" in pins(ROOT / "requirements-dev.txt")


def report(*dependencies: dict) -> dict:
    return {"dependencies": list(dependencies), "fixes": []}


CLEAN = {"name": "flask", "version": "3.1.3", "vulns": []}
SKIPPED = {
    "name": "werkzeug",
    "skip_reason": "Dependency not found on PyPI and could not be audited: werkzeug (3.1.9)",
}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h75v-3vvj-5mfj", "fix_versions": ["3.1.4"], "aliases": []}],
}


def test_a_known_vulnerability_fails_the_audit_and_is_named() -> None:
    status, lines = verdict(report(CLEAN, VULNERABLE), "", required=False)
    assert status == 1
    assert "VULNERABLE jinja2 3.1.2: GHSA-h75v-3vvj-5mfj (fixed in 3.1.4)" in lines


def test_packages_not_audited_are_said_and_fail_only_when_required() -> None:
    status, lines = verdict(report(CLEAN, SKIPPED), "", required=False)
    assert status == 0
    assert lines[0].startswith("NOT AUDITED: 1 of 2 locked packages") and "werkzeug" in lines[0]
    assert lines[-1] == "1 of 2 locked packages audited: no known vulnerabilities among them."
    assert verdict(report(CLEAN, SKIPPED), "", required=True)[0] == 1
    assert verdict(report(SKIPPED, VULNERABLE), "", required=False)[0] == 1


def test_no_report_at_all_is_said_not_taken_for_a_clean_audit() -> None:
    said = "requests.exceptions.ConnectionError: Failed to resolve 'pypi.org'"
    status, lines = verdict(None, said, required=False)
    assert status == 0 and lines[0].startswith("NOT AUDITED") and "Failed to resolve" in lines[0]
    assert verdict(None, said, required=True)[0] == 1
    assert verdict(report(CLEAN), "", required=True) == (
        0,
        ["1 of 1 locked packages audited: no known vulnerabilities among them."],
    )
