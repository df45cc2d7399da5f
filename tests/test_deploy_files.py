"""The deployment examples of docs/deploy.md hold: the systemd units pass ``systemd-analyze
verify``; the compose file gives every app server, the worker and the migration the same shared
settings, each a setting the app knows; the commands they run exist; the environment file
names the same shared settings as the compose file; Redis asks for a password and every URL
that names it gives one, in the examples and in the documentation; every container image is
pinned to a release, never ``latest`` or a bare name."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from catalog.config import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+unix")
# Read by the app's factory or gunicorn's settings, not DEFAULTS; AWS_* are boto3's own.
OUTSIDE_DEFAULTS = {
    "CATALOG_SECRET_KEY",
    "CATALOG_SETTINGS",
    "CATALOG_INSTANCE_PATH",
    "CATALOG_BIND",
    "CATALOG_WORKERS",
}
SHARED = {
    "CATALOG_DATABASE_URL",
    "CATALOG_STORAGE_URL",
    "CATALOG_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "CATALOG_SECRET_KEY",
    "CATALOG_QUEUE_URL",
    "CATALOG_QUEUE_EMBEDDED_WORKER",
    "CATALOG_RATE_LIMIT_STORAGE_URI",
}


def redis_urls(values: list[str]) -> list[str]:
    """The values among ``values`` that are URLs of a Redis."""
    return [v for v in values if urlsplit(v).scheme in REDIS_SCHEMES]


def assert_password_given(url: str) -> None:
    assert urlsplit(url).password, f"{url} names a Redis without its password"


def known(name: str) -> bool:
    return (
        name.startswith("AWS_")
        or name in OUTSIDE_DEFAULTS
        or name.removeprefix("CATALOG_") in DEFAULTS
    )


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    # Point the units at this checkout, which has the programs they run.
    for unit in sorted((DEPLOY / "systemd").glob("catalog-*.*")):
        text = unit.read_text().replace(
            "/srv/catalog/.venv", str(Path(sys.executable).parent.parent)
        )
        (tmp_path / unit.name).write_text(text.replace("/srv/catalog", str(ROOT)))
    units = sorted(str(p) for p in tmp_path.iterdir())
    assert len(units) == 4
    checked = subprocess.run([analyze, "verify", *units], capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


def test_compose_gives_every_process_the_same_shared_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    catalogue = ["migrate", "app-1", "app-2", "worker"]
    shared = {name: services[name]["environment"] for name in catalogue}
    for name, environment in shared.items():
        assert SHARED <= set(environment), (name, SHARED - set(environment))
        assert all(known(key) for key in environment), (name, environment)
        for key in SHARED:
            assert environment[key] == shared["migrate"][key], (name, key)
    assert shared["app-1"]["CATALOG_QUEUE_EMBEDDED_WORKER"] == "false"
    for name in ("app-1", "app-2"):
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["volumes"] != services["worker"]["volumes"]  # own index folders
    # The migration makes the bucket, so it waits for the store as well as the database; it
    # alone may make one.
    assert {"postgres", "s3"} <= set(services["migrate"]["depends_on"])
    assert [n for n in catalogue if "CATALOG_S3_CREATE_BUCKET" in shared[n]] == ["migrate"]
    assert shared["migrate"]["CATALOG_S3_CREATE_BUCKET"] == "true"
    # The store is given the very key every process uses, not a copy to keep in step.
    store = services["s3"]
    assert store["environment"]["AWS_ACCESS_KEY_ID"] == shared["app-1"]["AWS_ACCESS_KEY_ID"]
    assert "$$AWS_SECRET_ACCESS_KEY" in " ".join(store["command"])


def test_compose_starts_redis_with_a_password_that_every_url_to_it_gives() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    redis = services["redis"]
    # The server requires the password from the shared .env (compose stops without it).
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    started = " ".join(redis["command"])
    assert "requirepass" in started and "$$REDIS_PASSWORD" in started
    assert "redis-server" in started and "--requirepass" not in started  # not shown by `ps`
    for name in ("migrate", "app-1", "app-2", "worker"):
        environment = services[name]["environment"]
        urls = redis_urls([str(v) for v in environment.values()])
        assert {"CATALOG_QUEUE_URL", "CATALOG_RATE_LIMIT_STORAGE_URI"} <= {
            k for k, v in environment.items() if v in urls
        }
        for url in urls:
            assert_password_given(url)
            assert urlsplit(url).password == "${REDIS_PASSWORD}", url


def test_the_environment_file_and_the_docs_give_redis_its_password() -> None:
    settings = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "catalog.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    urls = redis_urls(list(settings.values()))
    assert (
        settings["CATALOG_QUEUE_URL"] in urls and settings["CATALOG_RATE_LIMIT_STORAGE_URI"] in urls
    )
    for url in urls:
        assert_password_given(url)
    documented = (ROOT / "docs" / "deploy.md").read_text() + (ROOT / "README.md").read_text()
    written = re.findall(r"`((?:rediss?|unix|redis\+unix)://[^`\s]*)`", documented)
    assert any(u.startswith("rediss://") for u in written), "the TLS form is not documented"
    for url in written:
        if url.split("://", 1)[1]:  # a URL, not the scheme's name alone
            assert_password_given(url)


def pinned(image: str) -> bool:
    """Return whether an image names an exact release (``postgres:16.11-bookworm``, or a
    digest), not a moving one (``postgres``, ``postgres:latest``, ``postgres:16``; Python's
    releases have three numbers, so ``python:3.11-slim`` moves too)."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition("/")[2].partition(":")
    release = r"\d+\.\d+\.\d+" if name == "python" else r"\d+\.\d+"
    return bool(re.match(release, tag))


def test_every_container_image_is_pinned_to_a_release() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    images = [s["image"] for s in compose["services"].values() if "image" in s]
    assert len(images) == 3, images  # PostgreSQL, SeaweedFS, Redis; the catalogue is built
    bases = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert bases, "the Dockerfile names no base image"
    loose = [image for image in images + bases if not pinned(image)]
    assert not loose, f"images not pinned to a release: {loose}"
    for moving in (
        "postgres",
        "redis:latest",
        "chrislusf/seaweedfs:latest",
        "redis:7-bookworm",
        "python:3.11-slim-bookworm",
    ):
        assert not pinned(moving), moving
    assert pinned("registry.local:5000/redis:7.4.2") and not pinned("registry.local:5000/redis")


def test_the_environment_file_names_the_shared_settings_and_only_known_ones() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "systemd" / "catalog.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert SHARED <= names and all(known(name) for name in names), names - SHARED


@pytest.mark.parametrize(
    "command", [["db", "upgrade"], ["worker"], ["verify"], ["storage", "migrate"]]
)
def test_the_commands_the_examples_run_exist(command: list[str]) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", *command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
