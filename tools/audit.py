"""``make audit``: the locked packages checked against the package index's advisories through
pip-audit, and its report read into a verdict.

A known vulnerability fails the audit, naming the package, the advisory and the versions that
fix it. A package whose advisories could not be had (the index does not answer for it, or
pip-audit cannot reach its service at all) is not taken as safe: the audit says in so many
words that it is incomplete, and fails with ``AUDIT_REQUIRED=1``, for machines that should
reach the advisories. Without it, such a run passes with the warning, so a machine that
cannot reach them (an offline mirror) can still run the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_pip_audit(lock: Path) -> tuple[dict[str, Any] | None, str]:
    """Run pip-audit on a hashed lock file; return its JSON report (None when it wrote none)
    and what it said on the way."""
    with tempfile.TemporaryDirectory(prefix="audit-") as folder:
        report = Path(folder) / "report.json"
        ran = subprocess.run(
            [
                sys.executable, "-m", "pip_audit", "--requirement", str(lock),
                # The lock pins every package with its hashes: nothing to resolve or install.
                "--require-hashes", "--disable-pip", "--progress-spinner", "off",
                "--format", "json", "--output", str(report),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        said = (ran.stderr + ran.stdout).strip()
        if not report.is_file() or not report.read_text().strip():
            return None, said
        found: dict[str, Any] = json.loads(report.read_text())
        return found, said


def verdict(report: dict[str, Any] | None, said: str, *, required: bool) -> tuple[int, list[str]]:
    """Return the exit status and the lines to print for a pip-audit report."""
    if report is None:
        last = said.splitlines()[-1] if said else "no output"
        lines = [
            f"NOT AUDITED: pip-audit could not check the locked packages ({last}).",
            "The package index's advisories could not be had from here; no package was audited.",
        ]
        return (1 if required else 0), lines
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    lines = []
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            lines.append(
                f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']}"
                f" (fixed in {fixed})"
            )
    if skipped:
        lines.append(
            f"NOT AUDITED: {len(skipped)} of {len(dependencies)} locked packages, their"
            f" advisories not to be had from here ({skipped[0]['skip_reason']})."
        )
    audited = len(dependencies) - len(skipped)
    if not vulnerable:
        lines.append(
            f"{audited} of {len(dependencies)} locked packages audited: no known vulnerabilities"
            " among them."
        )
    status = 1 if vulnerable or (skipped and required) else 0
    return status, lines


def main(argv: list[str]) -> int:
    """Audit the lock file named on the command line; return the exit status."""
    if len(argv) != 1:
        print("usage: python -m tools.audit LOCK_FILE", file=sys.stderr)
        return 2
    required = os.environ.get("AUDIT_REQUIRED", "") not in ("", "0")
    report, said = run_pip_audit(Path(argv[0]))
    status, lines = verdict(report, said, required=required)
    for line in lines:
        print(line)
    if status and not any(line.startswith("VULNERABLE") for line in lines):
        print("AUDIT_REQUIRED=1: an incomplete audit fails.")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
