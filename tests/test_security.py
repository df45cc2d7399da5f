"""Security: a role rule on every route, headers (a CSP with no inline script, nosniff, no
framing), no inline script or style in any page, sign-in rate limits and lock-out, the
production settings, and garbage collection of what a crash left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from catalog import schema
from catalog.db import get_session, make_engine
from catalog.models import Media, Role
from catalog.services import accounts
from catalog.storage import get_storage

from .media import encode, pattern
from .test_web import PASSWORD, sign_in, token, uploaded

# Routes anyone may reach: signing in, probes, static files, the API's own description.
PUBLIC = {
    "static",
    "web.login",
    "web.static",
    "bootstrap.static",
    "health.healthz",
    "health.readyz",
    "api-docs.openapi_json",
    "swagger_assets",
    "swagger_ui",
}


def test_every_route_has_a_role_rule(app: Flask) -> None:
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        view = app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            target = getattr(cls, method.lower()) if cls is not None else view
            assert isinstance(getattr(target, "_catalog_role", None), Role), (
                f"{method} {rule.rule} ({rule.endpoint}) has no role rule"
            )
            if method in ("POST", "PATCH", "DELETE", "PUT") and rule.endpoint not in (
                "web.search",
                "search.search_by_file",
                "web.logout",
            ):
                declared = getattr(target, "_catalog_post_role", target._catalog_role)
                assert declared.allows(Role.ANALYST) and declared is not Role.VIEWER, (
                    f"{method} {rule.rule} writes but needs only {declared}"
                )
            checked += 1
    assert checked > 80


def test_security_headers_on_pages_api_and_docs(client: FlaskClient) -> None:
    for path in ("/login", "/api/v1/media", "/api/v1/docs", "/healthz"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp
            and "frame-ancestors 'none'" in csp
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
    docs = client.get("/api/v1/docs").get_data(as_text=True)
    assert re.search(r"<script>", docs) is None and "swagger-init.js" in docs


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|\sstyle=", re.IGNORECASE)


def test_no_page_has_inline_script_or_style(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
    sign_in(client, "ana")
    first = uploaded(
        client,
        incident="Strike",
        **{
            "sighting-url": "https://t.me/c/1",
            "sighting-source": "Chan",
            "ack-party": "P",
            "ack-status": "official",
        },
    )
    second = uploaded(client, encode(pattern(seed=4), "PNG"))
    pages = [
        "/",
        "/upload",
        "/search",
        "/media",
        "/incidents",
        "/sources",
        "/parties",
        f"/media/{first}",
        f"/compare/{first}/{second}",
        f"/media/{first}/report.html",
        "/incidents/1",
        "/no/such/page",
        "/api/v1/docs",
        "/search?tab=hash&algorithm=pdq&hash=" + "0" * 64,
    ]
    pages += re.findall(
        r'href="(/(?:sources|parties|incidents)/\d+)"',
        client.get(f"/media/{first}").get_data(as_text=True),
    )
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        found = INLINE.search(html)
        assert found is None, f"{path}: {found.group(0) if found else ''}"


def test_sign_in_is_rate_limited_and_accounts_lock_after_failures(
    app_factory, fresh_database_url: str
) -> None:
    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    engine.dispose()
    app = app_factory(
        fresh_database_url, LOGIN_LOCKOUT="3 per 15 minutes", LOGIN_RATE_LIMIT="8 per minute"
    )
    with app.app_context():
        for name in ("ana", "bob"):
            accounts.create_user(get_session(), name, PASSWORD, "analyst")
    client = app.test_client()

    def attempt(username: str, password: str):
        return client.post(
            "/login",
            data={
                "csrf_token": token(client, "/login"),
                "username": username,
                "password": password,
            },
        )

    assert [attempt("ana", "wrong password!").status_code for _ in range(3)] == [401, 401, 401]
    locked = attempt("ana", PASSWORD)
    assert locked.status_code == 429 and "locked after repeated failed sign-ins" in locked.get_data(
        as_text=True
    )
    assert attempt("bob", PASSWORD).status_code == 302  # another account is not locked
    client.post("/logout", data={"csrf_token": token(client)})
    # Guessing across many accounts from one address meets the per-address limit.
    statuses = [attempt(f"guess{n}", "wrong password!").status_code for n in range(6)]
    assert 429 in statuses
    assert "from this address" in attempt("bob", PASSWORD).get_data(as_text=True)


def test_production_settings_force_https_and_secure_cookies(
    app_factory, fresh_database_url: str
) -> None:
    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    engine.dispose()
    app = app_factory(fresh_database_url, FORCE_HTTPS=True, SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    plain = client.get("/login")
    assert plain.status_code in (301, 302) and plain.headers["Location"].startswith("https://")
    secure = client.get("/login", base_url="https://localhost")
    assert "max-age" in secure.headers["Strict-Transport-Security"]
    assert "Secure" in secure.headers["Set-Cookie"] and "HttpOnly" in secure.headers["Set-Cookie"]


def test_gc_removes_old_orphans_only(app: Flask, runner, session) -> None:
    storage = get_storage(app)
    orphan = storage.put_bytes(encode(pattern(seed=7), "PNG"))
    young = runner.invoke(args=["catalog", "gc"])
    assert (
        young.exit_code == 0 and "kept 1 younger" in young.output and storage.exists(orphan.sha256)
    )
    dry = runner.invoke(args=["catalog", "gc", "--older-than", "0", "--dry-run"])
    assert f"would remove orphan {orphan.sha256}" in dry.output and storage.exists(orphan.sha256)
    done = runner.invoke(args=["catalog", "gc", "--older-than", "0"])
    assert f"removed orphan {orphan.sha256}" in done.output and not storage.exists(orphan.sha256)
    assert runner.invoke(args=["catalog", "verify"]).exit_code == 0


@pytest.mark.slow
def test_an_import_killed_midway_leaves_no_half_record_and_gc_clears_its_orphans(
    fresh_database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(60):
        (folder / f"{n:02d}.png").write_bytes(
            encode(pattern(seed=100 + n).resize((900, 700)), "PNG")
        )
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": fresh_database_url,
        "CATALOG_MEDIA_ROOT": str(tmp_path / "media"),
        "CATALOG_SECRET_KEY": "kill-test",
        "CATALOG_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "catalog"]
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [*command, "import", str(folder), "--jobs", "2"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    with engine.connect() as connection:
        while (
            time.time() < deadline
            and connection.scalar(sa.select(sa.func.count()).select_from(Media)) < 5
        ):
            time.sleep(0.05)
            connection.rollback()
    os.killpg(process.pid, signal.SIGKILL)  # the whole group: the import and its workers
    process.wait()
    with engine.connect() as connection:
        stored = connection.scalar(sa.select(sa.func.count()).select_from(Media))
    engine.dispose()
    assert 5 <= stored < 60
    verify = subprocess.run(
        [*command, "verify", "--json"], cwd=root, env=env, capture_output=True, text=True
    )
    assert (
        '"missing": []' in verify.stdout
        and '"altered": []' in verify.stdout
        and '"audit_faults": []' in verify.stdout
    )
    subprocess.run(
        [*command, "gc", "--older-than", "0"], cwd=root, env=env, check=True, capture_output=True
    )
    after = subprocess.run([*command, "verify"], cwd=root, env=env, capture_output=True, text=True)
    assert after.returncode == 0, after.stdout + after.stderr
