"""Signing in and out. A session names the user and a fragment of their password hash, so a
password change or a disabled account ends every session at once."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from ..db import get_session
from ..models import Role, User
from ..security import limiter, lockout_limits, login_limits, login_username
from ..services import accounts
from . import bp, login_manager, role_required, safe_next
from .forms import LoginForm


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Return the active user a session names, if their password is unchanged since."""
    user_id, _, fragment = session_id.partition(":")
    if not user_id.isdigit() or int(user_id) > 2**31 - 1:
        return None
    user = get_session().get(User, int(user_id))
    if user is None or not user.active or user.get_id() != session_id:
        return None
    return user


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    login_limits,
    methods=["POST"],
    error_message="Too many sign-in attempts from this address; wait a minute.",
)
@limiter.limit(
    lockout_limits,
    key_func=login_username,
    methods=["POST"],
    deduct_when=lambda response: response.status_code == 401,
    error_message="This account is locked after repeated failed sign-ins; try again in 15 minutes.",
)
def login():
    """Sign in with username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        user = accounts.log_in(get_session(), form.username.data, form.password.data)
        if user is not None:
            login_user(user)
            flash(f"Signed in as {user.username} ({user.role.value}).", "success")
            return redirect(safe_next(form.next.data))
        form.password.errors = ["Unknown username or wrong password, or the account is disabled."]
    return render_template(
        "login.html", form=form
    ), 200 if request.method == "GET" or not form.errors else 401


@bp.route("/logout", methods=["POST"])
@role_required(Role.VIEWER)
def logout():
    """Sign out (a POST with the CSRF token, so no other site can sign you out)."""
    logout_user()
    flash("Signed out.", "info")
    return redirect(url_for("web.login"))
