"""Signing in and out, and a user's own sessions. The cookie names a session kept on the
server (``services/sessions.py``), so signing out, signing out everywhere, a password change,
disabling the user or an admin ends it whatever copy of the cookie survives."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from ..db import get_session
from ..models import Role, User
from ..security import (
    limiter,
    login_limits,
    sign_in_failed,
    sign_in_succeeded,
    sign_in_wait,
)
from ..services import ServiceError
from ..services.people import accounts, sessions
from . import bp, login_manager, role_required, safe_next
from .forms import ConfirmForm, LoginForm


def lifetimes() -> tuple[timedelta, timedelta]:
    """How long a session may stay idle, and live at all (settings)."""
    config = current_app.config
    return (
        timedelta(minutes=float(config["SESSION_IDLE_MINUTES"])),
        timedelta(hours=float(config["SESSION_MAX_HOURS"])),
    )


@login_manager.user_loader
def load_user(key: str) -> User | None:
    """Return the active user of the live server-side session the cookie names."""
    idle, lifetime = lifetimes()
    user = sessions.resume(get_session(), key, idle=idle, lifetime=lifetime)
    if user is not None:
        user.bind_session(key)
    return user


@bp.route("/favicon.ico")
def favicon():
    """The site's icon where a browser asks for it by the old name (images opened alone)."""
    return bp.send_static_file("favicon.svg")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    login_limits,
    methods=["POST"],
    error_message="Too many sign-in attempts from this address; wait a minute.",
)
def login():
    """Sign in with username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        wait = sign_in_wait(form.username.data)
        if wait:
            # The password is not even checked: a guess during the wait tells nothing.
            return _too_soon(form, wait)
        user = accounts.log_in(get_session(), form.username.data, form.password.data)
        if user is not None:
            sign_in_succeeded(form.username.data)
            # A fresh cookie: nothing from before sign-in (the CSRF secret included) carries over.
            session.clear()
            g.pop("csrf_token", None)  # Flask-WTF's copy of the old token for this request
            key = sessions.start(
                get_session(),
                user,
                address=request.remote_addr,
                user_agent=request.headers.get("User-Agent"),
            )
            user.bind_session(key)
            session.permanent = True  # the cookie expires with the session's absolute limit
            login_user(user)
            flash(f"Signed in as {user.username} ({user.role.value}).", "success")
            return redirect(safe_next(form.next.data))
        wait = sign_in_failed(form.username.data)
        message = "Unknown username or wrong password, or the account is disabled."
        if wait:
            message += f" Wait {wait} s before trying this account again from here."
        form.password.errors = [message]
    return render_template(
        "login.html", form=form
    ), 200 if request.method == "GET" or not form.errors else 401


def _too_soon(form: LoginForm, wait: int):
    form.password.errors = [
        f"Too many failed sign-ins for this account from your address: wait {wait} s and try "
        "again. (Signing in from elsewhere is not affected.)"
    ]
    return render_template("login.html", form=form), 429, {"Retry-After": str(wait)}


@bp.route("/logout", methods=["POST"])
@role_required(Role.VIEWER)
def logout():
    """Sign out (a POST with the CSRF token, so no other site can sign you out)."""
    sessions.end(get_session(), current_user.get_id())
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("web.login"))


@bp.route("/account/sessions")
@role_required(Role.VIEWER)
def my_sessions():
    """Where you are signed in, this browser marked."""
    return render_template(
        "sessions.html",
        sessions=sessions.list_sessions(get_session(), current_user.id),
        current=sessions.session_id_of(current_user.get_id()),
        timezones=accounts.timezones(),
        confirm=ConfirmForm(formdata=None),
    )


@bp.route("/account/timezone", methods=["POST"])
@role_required(Role.VIEWER)
def set_my_timezone():
    """Choose the place whose local time is shown beside UTC on every page."""
    if not ConfirmForm().validate():
        flash("The form expired; try again.", "warning")
        return redirect(url_for("web.my_sessions"))
    try:
        accounts.set_timezone(get_session(), current_user, request.form.get("timezone"))
    except ServiceError as exc:
        flash(f"Not saved: {exc}", "danger")
    else:
        flash("Saved: times are shown in UTC with your local time beside them.", "success")
    return redirect(url_for("web.my_sessions"))


@bp.route("/account/sessions/<int:row_id>/end", methods=["POST"])
@role_required(Role.VIEWER)
def end_one_session(row_id: int):
    """End one of your sessions: another browser's, or this one (which signs you out)."""
    current = sessions.session_id_of(current_user.get_id())
    if not sessions.end_one(get_session(), current_user, row_id):
        flash("That session had already ended.", "warning")
        return redirect(url_for("web.my_sessions"))
    if row_id == current:
        logout_user()
        session.clear()
        flash("Signed out.", "info")
        return redirect(url_for("web.login"))
    flash("That session has ended: the browser that held it must sign in again.", "info")
    return redirect(url_for("web.my_sessions"))


@bp.route("/account/sessions/end", methods=["POST"])
@role_required(Role.VIEWER)
def end_my_sessions():
    """Sign out everywhere: every session of yours ends, this one included."""
    ended = sessions.end_all(get_session(), current_user, actor=current_user)
    logout_user()
    session.clear()
    flash(f"Signed out everywhere ({ended} sessions ended).", "info")
    return redirect(url_for("web.login"))
