"""Configuration layers: code defaults, settings file, CATALOG_* variables, then the mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import create_app

STRONG = "9f1c2e7a4b8d0356e1f2a9c7b4d8e0f13a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith("CATALOG_"):
            monkeypatch.delenv(name)
    instance = tmp_path / "instance"
    monkeypatch.setenv("CATALOG_INSTANCE_PATH", str(instance))
    return instance


def test_bare_start_runs_on_instance_defaults(clean_env: Path) -> None:
    app = create_app()
    assert app.config["DATABASE_URL"] == f"sqlite:///{clean_env / 'catalog.db'}"
    assert app.config["MEDIA_ROOT"] == str(clean_env / "media")
    assert (clean_env / "media" / "originals").is_dir()
    key_file = clean_env / "secret_key"
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(app.config["SECRET_KEY"]) == 64
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    # The key survives restarts, so sessions do too.
    assert create_app().config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert app.config["MAX_CONTENT_LENGTH"] == 200 * 1024 * 1024


def test_environment_overrides_settings_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = tmp_path / "site.py"
    settings.write_text(
        "MAX_UPLOAD_MB = 5\nMEDIA_ROOT = '/srv/from-file'\nSECRET_KEY = 'from-file'\n"
    )
    monkeypatch.setenv("CATALOG_SETTINGS", str(settings))
    monkeypatch.setenv("CATALOG_MEDIA_ROOT", str(tmp_path / "from-env"))
    monkeypatch.setenv("CATALOG_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    app = create_app()
    assert app.config["MAX_UPLOAD_MB"] == 5
    assert app.config["MAX_CONTENT_LENGTH"] == 5 * 1024 * 1024
    assert app.config["MEDIA_ROOT"] == str(tmp_path / "from-env")
    assert app.config["SECRET_KEY"] == "from-file"
    assert app.config["DATABASE_URL"].endswith("env.db")
    monkeypatch.setenv("CATALOG_MAX_UPLOAD_MB", "12")
    monkeypatch.setenv("CATALOG_SECRET_KEY", "from-env")
    app = create_app({"MEDIA_ROOT": str(tmp_path / "from-mapping")})
    assert app.config["MAX_UPLOAD_MB"] == 12
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["MEDIA_ROOT"] == str(tmp_path / "from-mapping")


def test_named_environment_needs_its_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_ENV", "production")
    with pytest.raises(RuntimeError, match="production.example.py"):
        create_app()


def test_production_example_is_a_valid_settings_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    example = Path(__file__).resolve().parent.parent / "config" / "production.example.py"
    monkeypatch.setenv("CATALOG_SETTINGS", str(example))
    monkeypatch.setenv("CATALOG_SECRET_KEY", STRONG)
    monkeypatch.setenv("CATALOG_MEDIA_ROOT", str(tmp_path / "media"))
    app = create_app()
    assert app.config["PRODUCTION"] is True and app.config["SECRET_KEY"] == STRONG
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["DATABASE_URL"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize("value", ["0", "-3", '"lots"'])
def test_bad_upload_limit_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CATALOG_MAX_UPLOAD_MB", value)
    with pytest.raises(RuntimeError, match="MAX_UPLOAD_MB"):
        create_app()


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "needs a SECRET_KEY set by the operator"),
        ("x", "too weak"),
        ("set-by-the-operator", "too weak"),
        ("a" * 64, "too weak"),
    ],
)
def test_production_refuses_a_missing_or_weak_secret_key(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, key: str | None, problem: str
) -> None:
    if key is not None:
        monkeypatch.setenv("CATALOG_SECRET_KEY", key)
    monkeypatch.setenv("CATALOG_PRODUCTION", "true")
    with pytest.raises(RuntimeError, match=problem):
        create_app()
    # Nothing was generated in its place: every server must be given the same key.
    assert not (clean_env / "secret_key").exists()
    monkeypatch.setenv("CATALOG_SECRET_KEY", STRONG)
    assert create_app().config["SECRET_KEY"] == STRONG


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        # A signed URL works for whoever holds it until it expires: an hour at most.
        ({"CATALOG_S3_PRESIGNED_SECONDS": "3601"}, "S3_PRESIGNED_SECONDS must be .* 3600"),
        ({"CATALOG_S3_PRESIGNED_SECONDS": "604800"}, "S3_PRESIGNED_SECONDS must be .* 3600"),
        ({"CATALOG_S3_PRESIGNED_SECONDS": "-1"}, "S3_PRESIGNED_SECONDS"),
        ({"CATALOG_S3_PRESIGNED_SECONDS": "1.5"}, "S3_PRESIGNED_SECONDS"),
        ({"CATALOG_S3_PRESIGNED_SECONDS": "true"}, "S3_PRESIGNED_SECONDS"),
        ({"CATALOG_S3_PRESIGN_ACCESS_KEY_ID": "reader"}, "given together"),
        ({"CATALOG_S3_PRESIGN_SECRET_ACCESS_KEY": "secret"}, "given together"),
        ({"CATALOG_S3_CREATE_BUCKET": '"yes"'}, "S3_CREATE_BUCKET must be true or false"),
    ],
)
def test_s3_settings_out_of_range_are_refused_at_start(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], problem: str
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=problem):
        create_app()


def test_s3_settings_in_range_are_taken(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_S3_PRESIGNED_SECONDS", "3600")
    monkeypatch.setenv("CATALOG_S3_PRESIGN_ACCESS_KEY_ID", "reader")
    monkeypatch.setenv("CATALOG_S3_PRESIGN_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("CATALOG_S3_CREATE_BUCKET", "true")
    config = create_app().config
    assert config["S3_PRESIGNED_SECONDS"] == 3600 and config["S3_CREATE_BUCKET"] is True
