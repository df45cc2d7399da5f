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
from catalog.services.people import accounts
from catalog.storage import get_storage

from .media import encode, pattern
from .redisserver import RedisServer
from .test_web import PASSWORD, sign_in, token, uploaded

# Routes anyone may reach: signing in, probes, static files, the API's own description.
PUBLIC = {
    "static",
    "web.login",
    "web.favicon",
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
                "web.end_my_sessions",
                "web.end_one_session",
                "web.set_my_timezone",
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


def migrated_app(app_factory, url: str, **settings: object) -> Flask:
    """An app on its own migrated database, with users ana and bob."""
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    app = app_factory(url, **settings)
    with app.app_context():
        for name in ("ana", "bob"):
            accounts.create_user(get_session(), name, PASSWORD, "analyst")
    return app


def attempt(client: FlaskClient, username: str, password: str, **environ: str):
    """POST the sign-in form (a CSRF token read first) from ``environ``'s address."""
    return client.post(
        "/login",
        data={"csrf_token": token(client, "/login"), "username": username, "password": password},
        **({"environ_base": environ} if environ else {}),
    )


def test_failed_sign_ins_earn_growing_waits_for_that_address_only(
    app_factory, fresh_database_url: str
) -> None:
    app = migrated_app(
        app_factory,
        fresh_database_url,
        LOGIN_FREE_FAILURES=2,
        LOGIN_FIRST_WAIT_SECONDS=30,
        LOGIN_RATE_LIMIT="50 per minute",
    )
    attacker = app.test_client()
    here = {"REMOTE_ADDR": "127.0.0.7"}
    assert [attempt(attacker, "ana", "wrong password!", **here).status_code for _ in range(3)] == [
        401,
        401,
        401,
    ]
    # The third failure earned a wait: now even the right password is not checked from here.
    held = attempt(attacker, "ana", PASSWORD, **here)
    waited = re.search(r"wait (\d+) s", held.get_data(as_text=True))
    assert held.status_code == 429 and waited and int(waited.group(1)) in range(25, 31)
    # (Flask-Limiter may push Retry-After later, to the end of its own window, never earlier.)
    assert int(held.headers["Retry-After"]) >= int(waited.group(1))
    # Nobody can lock ana out: from another address she signs in at once.
    owner = app.test_client()
    assert attempt(owner, "ana", PASSWORD, REMOTE_ADDR="127.0.0.8").status_code == 302
    # Another account from the attacker's address is not held either.
    assert attempt(app.test_client(), "bob", PASSWORD, **here).status_code == 302


def test_waits_double_and_a_success_forgets_them(app_factory, fresh_database_url: str) -> None:
    app = migrated_app(
        app_factory,
        fresh_database_url,
        LOGIN_FREE_FAILURES=0,
        LOGIN_FIRST_WAIT_SECONDS=2,
        LOGIN_MAX_WAIT_SECONDS=5,
    )
    client = app.test_client()
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.9"}):
        from catalog import security

        assert [security.sign_in_failed("ana") for _ in range(4)] == [2, 4, 5, 5]
        assert 1 <= security.sign_in_wait("ana") <= 5
        security.sign_in_succeeded("ana")
        assert security.sign_in_wait("ana") == 0
    assert attempt(client, "ana", PASSWORD, REMOTE_ADDR="127.0.0.9").status_code == 302


def test_guessing_across_accounts_meets_the_per_address_limit(
    app_factory, fresh_database_url: str
) -> None:
    app = migrated_app(app_factory, fresh_database_url, LOGIN_RATE_LIMIT="5 per minute")
    client = app.test_client()
    statuses = [attempt(client, f"guess{n}", "wrong password!").status_code for n in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    assert "from this address" in attempt(client, "bob", PASSWORD).get_data(as_text=True)


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
    app_factory, fresh_database_url: str
) -> None:
    spoofed = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "127.0.0.50"}
    # One proxy trusted: its X-Forwarded-For names the client; none trusted: it is ignored.
    for proxies, expected in ((0, "127.0.0.1"), (1, "127.0.0.50")):
        app = app_factory(fresh_database_url, TRUSTED_PROXIES=proxies)
        seen: list[str | None] = []

        @app.get(f"/probe-{proxies}")
        def probe(seen: list[str | None] = seen) -> str:
            from flask import request

            seen.append(request.remote_addr)
            return "ok"

        app.test_client().get(f"/probe-{proxies}", environ_base=spoofed)
        assert seen == [expected], proxies


def test_sign_in_counters_are_shared_through_redis(app_factory, fresh_database_url: str) -> None:
    server = RedisServer().start()
    try:
        settings = {
            "RATE_LIMIT_STORAGE_URI": server.url,
            "LOGIN_FREE_FAILURES": 1,
            "LOGIN_FIRST_WAIT_SECONDS": 60,
        }
        # Two apps stand for two workers or two servers: they share nothing but the store.
        first = migrated_app(app_factory, fresh_database_url, **settings)
        second = app_factory(fresh_database_url, **settings)
        here = {"REMOTE_ADDR": "127.0.0.11"}
        assert attempt(first.test_client(), "ana", "wrong password!", **here).status_code == 401
        assert attempt(second.test_client(), "ana", "wrong password!", **here).status_code == 401
        held = attempt(first.test_client(), "ana", PASSWORD, **here)
        assert held.status_code == 429, "the failure counted by the other app was not seen"
        keys = subprocess.run(
            ["redis-cli", "-s", str(server.socket), "--scan"], capture_output=True, text=True
        ).stdout
        assert "sign-in/ana/127.0.0.11" in keys
    finally:
        server.stop()


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
    # The probes answer over plain HTTP: a balancer checks servers behind the TLS it ends.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/media").status_code in (301, 302)


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
