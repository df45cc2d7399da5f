"""Browser sessions end on the server: a cookie copied before sign-out is refused after it;
sign-in starts a clean cookie; sessions expire when idle and after their absolute lifetime;
a user can sign out everywhere, an admin can end a user's sessions (API and CLI), and a
password change or disabling ends them all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.db import get_session
from catalog.models import AuditEvent, UserSession, utcnow
from catalog.services.people import accounts

from .test_web import PASSWORD, sign_in, token, users

__all__ = ["users"]  # a fixture, used by name

COOKIE = "session"


@contextmanager
def database(app: Flask) -> Iterator[Session]:
    """The app's database session in an app context of its own. (The ``session`` fixture
    would keep one app context open, and with it the signed-in user Flask-Login caches in
    ``g``, across the test client's requests; a server never does.)"""
    with app.app_context():
        yield get_session()


def cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def with_cookie(app: Flask, value: str) -> FlaskClient:
    """A new browser that presents a copied session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app: Flask, users) -> None:
    client = app.test_client()
    sign_in(client, "analyst")
    copied = cookie_of(client)
    assert with_cookie(app, copied).get("/media").status_code == 200
    client.post("/logout", data={"csrf_token": token(client)})
    replay = with_cookie(app, copied).get("/media")
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]


def test_sign_in_starts_a_clean_cookie(app: Flask, users) -> None:
    client = app.test_client()
    before = token(client, "/login")
    sign_in(client, "viewer")
    after = token(client)
    assert before != after  # the CSRF secret from before sign-in did not survive it


def test_sessions_end_when_idle_or_too_old(app: Flask, users) -> None:
    idle, oldest = app.config["SESSION_IDLE_MINUTES"], app.config["SESSION_MAX_HOURS"]
    for column, age in (
        ("last_seen_at", timedelta(minutes=idle + 1)),
        ("created_at", timedelta(hours=oldest, minutes=1)),
    ):
        client = app.test_client()
        sign_in(client, "viewer")
        assert client.get("/media").status_code == 200
        with database(app) as session:
            row_id = session.scalar(sa.select(sa.func.max(UserSession.id)))
            session.execute(
                sa.update(UserSession)
                .where(UserSession.id == row_id)
                .values({column: utcnow() - age})
            )
            session.commit()
        assert client.get("/media").status_code == 302, column
        with database(app) as session:
            assert session.get(UserSession, row_id) is None  # and the row is gone


def test_the_cookie_expires_with_the_session(app: Flask, users) -> None:
    client = app.test_client()
    response = client.post(
        "/login",
        data={"csrf_token": token(client, "/login"), "username": "viewer", "password": PASSWORD},
    )
    header = response.headers["Set-Cookie"]
    assert "Expires=" in header and "HttpOnly" in header
    assert app.permanent_session_lifetime == timedelta(hours=app.config["SESSION_MAX_HOURS"])


def test_sign_out_everywhere_ends_every_browser(app: Flask, users) -> None:
    first, second = app.test_client(), app.test_client()
    sign_in(first, "analyst")
    sign_in(second, "analyst")
    page = first.get("/account/sessions").get_data(as_text=True)
    assert page.count("<tr>") == 3 and "this browser" in page  # a header row and two sessions
    ended = first.post("/account/sessions/end", data={"csrf_token": token(first)})
    assert ended.status_code == 302
    assert first.get("/media").status_code == 302 and second.get("/media").status_code == 302
    with database(app) as session:
        event = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event.action == "user.sessions_end" and event.details["ended"] == 2


def test_an_admin_ends_a_users_sessions_through_the_api(app: Flask, users) -> None:
    browser = app.test_client()
    sign_in(browser, "viewer")
    with database(app) as session:
        _, key = accounts.create_api_key(session, "admin")
        viewer_id = accounts.get_user(session, "viewer").id
    api = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    listed = api.get(f"/api/v1/users/{viewer_id}/sessions", headers=headers)
    assert listed.status_code == 200 and len(listed.json) == 1
    assert set(listed.json[0]) == {"id", "created_at", "last_seen_at", "address", "user_agent"}
    ended = api.delete(f"/api/v1/users/{viewer_id}/sessions", headers=headers)
    assert ended.status_code == 200 and ended.json == {"ended": 1}
    assert browser.get("/media").status_code == 302
    assert api.get(f"/api/v1/users/{viewer_id}/sessions", headers=headers).json == []


def test_an_admin_ends_a_users_sessions_from_the_command_line(
    app: Flask, users, runner: FlaskCliRunner
) -> None:
    browser = app.test_client()
    sign_in(browser, "viewer")
    result = runner.invoke(args=["catalog", "user", "end-sessions", "viewer"])
    assert result.exit_code == 0 and "1 sessions of viewer ended" in result.output
    assert browser.get("/media").status_code == 302
    missing = runner.invoke(args=["catalog", "user", "end-sessions", "nobody"])
    assert missing.exit_code != 0 and "nobody" in missing.output


def test_password_change_and_disabling_end_sessions_on_the_server(app: Flask, users) -> None:
    for change in ({"password": "another long password"}, {"active": False}):
        browser = app.test_client()
        with database(app) as session:
            viewer_id = accounts.get_user(session, "viewer").id
            accounts.update_user(session, viewer_id, {"active": True, "password": PASSWORD})
        sign_in(browser, "viewer")
        copied = cookie_of(browser)
        with database(app) as session:
            accounts.update_user(session, viewer_id, change)
            count = sa.select(sa.func.count()).select_from(UserSession)
            assert session.scalar(count.where(UserSession.user_id == viewer_id)) == 0, change
        assert with_cookie(app, copied).get("/media").status_code == 302, change


def test_another_user_agent_does_not_matter(app: Flask, users) -> None:
    # Sessions are ended on the server; the User-Agent (any client sets it) decides nothing.
    client = app.test_client()
    sign_in(client, "viewer")
    other = with_cookie(app, cookie_of(client))
    assert other.get("/media", headers={"User-Agent": "something else"}).status_code == 200


def test_a_user_ends_one_session_and_no_one_elses(app: Flask, users) -> None:
    laptop, phone, other = app.test_client(), app.test_client(), app.test_client()
    sign_in(laptop, "analyst")
    sign_in(phone, "analyst")
    sign_in(other, "viewer")
    page = laptop.get("/account/sessions").get_data(as_text=True)
    rows = [int(n) for n in re.findall(r'data-end-session="(\d+)"', page)]
    assert len(rows) == 2 and "Sign out here" in page and ">End<" in page
    phone_row = max(rows)  # the later sign-in
    with database(app) as session:
        viewer_row = session.scalar(sa.select(UserSession.id).where(UserSession.id.not_in(rows)))
    # Ending the phone's session signs the phone out, and only the phone.
    ended = laptop.post(f"/account/sessions/{phone_row}/end", data={"csrf_token": token(laptop)})
    assert ended.status_code == 302 and ended.headers["Location"].endswith("/account/sessions")
    assert phone.get("/media").status_code == 302 and laptop.get("/media").status_code == 200
    with database(app) as session:
        event = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event.action == "user.session_end" and event.details["session"] == phone_row
    # Someone else's session is not theirs to end.
    refused = laptop.post(f"/account/sessions/{viewer_row}/end", data={"csrf_token": token(laptop)})
    assert refused.status_code == 302 and other.get("/media").status_code == 200
    # Ending this browser's own session signs it out.
    (own,) = [r for r in rows if r != phone_row]
    out = laptop.post(f"/account/sessions/{own}/end", data={"csrf_token": token(laptop)})
    assert out.headers["Location"].endswith("/login") and laptop.get("/media").status_code == 302


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_the_sessions_page_names_the_browser_in_short(app: Flask, users) -> None:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    sign_in(client, "viewer")
    page = client.get("/account/sessions").get_data(as_text=True)
    cell = re.search(r"<td[^>]*data-user-agent[^>]*>([^<]*)</td>", page)
    assert cell and cell.group(1) == "Firefox 128 on Linux", page
    assert f'title="{FIREFOX}"' in cell.group(0)  # the whole string, for whoever wants it


def test_common_browsers_are_named_in_short() -> None:
    from catalog.web.readable import browser_summary

    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    cases = {
        f"{chrome} Chrome/126.0.0.0 Safari/537.36": "Chrome 126 on Windows",
        f"{chrome} Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87": "Edge 126 on Windows",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari 17 on iOS",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.71 Mobile Safari/537.36": "Chrome 126 on Android",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0": (
            "Firefox 127 on macOS"
        ),
        "curl/8.5.0": "curl 8.5",
        "": "",
        None: "",
        "Werkzeug/3.0.3": "Werkzeug/3.0.3",
    }
    for given, short in cases.items():
        assert browser_summary(given) == short, given
