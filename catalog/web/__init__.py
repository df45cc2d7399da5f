"""The web interface for analysts: server-rendered pages (Jinja2, Bootstrap served from the
installed Bootstrap-Flask package, so it works offline), sessions with Flask-Login, CSRF on
every form with Flask-WTF, roles honoured in views and templates, and error pages.

All JavaScript lives in ``static/catalog.js`` (no inline script), so a strict
Content-Security-Policy can forbid inline code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, Protocol, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from ..models import Role
from ..replies import service_error
from ..services import NotFound, ServiceError, reports
from ..services.evidence import wording
from .forms import ZONE_CHOICES, platform_label
from .readable import audit_lines, browser_summary
from .text import FIELD_LABELS, marked, minutes

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/catalog",
)
csrf = CSRFProtect()
login_manager = LoginManager()


def refusal(role: Role) -> Any | None:
    """Return the login redirect or the 403 page if the current user lacks ``role``, else None."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.role.allows(role):
        return error_page(
            403,
            f"This needs the {role.value} role; you are signed in as {current_user.role.value}.",
        )
    return None


class RoleMarkedView(Protocol):
    """A view that ``role_required`` wrapped, marked with the roles it lets through."""

    _catalog_role: Role
    _catalog_post_role: Role

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def role_required(role: Role, *, post: Role | None = None) -> Callable:
    """Let a signed-in user of at least ``role`` through (``post`` for POSTs, if given); others
    get the login page or a 403."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            refused = refusal(post if post is not None and request.method == "POST" else role)
            if refused is not None:
                return refused
            return view(*args, **kwargs)

        # Read by the test that checks a role rule on every route of the URL map. A function
        # takes any attribute; the cast tells the type checker which ones it now has.
        marked = cast(RoleMarkedView, wrapped)
        marked._catalog_role = role
        marked._catalog_post_role = post or role
        return marked

    return decorate


def can(role: str) -> bool:
    """Return whether the signed-in user has at least ``role`` (for templates)."""
    return bool(current_user.is_authenticated and current_user.role.allows(Role(role)))


def wants_json() -> bool:
    """Return whether the page's own script sent the request and expects JSON back."""
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a path on this site, else the home page (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
        ):
            return target
    return url_for("web.home")


def error_page(status: int, message: str):
    """Render the error page (or a JSON error for the page's script) with ``status``."""
    if wants_json():
        return jsonify(ok=False, message=message), status
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 413: "File too large"}
    return render_template(
        "error.html", status=status, title=titles.get(status, "Error"), message=message
    ), status


def _utc(moment: datetime | None, with_seconds: bool = False) -> str:
    """A time in UTC, with the viewer's local time beside it when they chose a place."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    shape = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
    said = moment.astimezone(UTC).strftime(shape) + " UTC"
    place = viewer_zone()
    if place:
        try:
            local = moment.astimezone(ZoneInfo(place))
        except (ZoneInfoNotFoundError, ValueError):
            return said
        same_day = local.date() == moment.astimezone(UTC).date()
        said += f" ({local.strftime(shape[9:] if same_day else shape)} {place})"
    return said


def _filesize(size: int | None) -> str:
    if size is None:
        return ""
    amount: float = size
    for unit in ("bytes", "KB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1000
    return ""


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _handle_http(error: HTTPException):
    """Pages get the error page; the API keeps its problem+json answers."""
    if request.path.startswith("/api/"):
        return current_app.extensions["catalog.api"].handle_http_exception(error)
    if error.code == 413:
        limit = current_app.config["MAX_UPLOAD_MB"]
        return error_page(
            413, f"The file is larger than the upload limit of {limit:g} MB. Nothing was stored."
        )
    if error.code == 404:
        return error_page(404, "There is nothing at this address.")
    return error_page(error.code or 500, error.description or error.name)


def _handle_service_error(error: ServiceError):
    """A service refused: problem+json in the API, the error page elsewhere."""
    if request.path.startswith("/api/"):
        return service_error(error)
    return error_page(404 if isinstance(error, NotFound) else 400, str(error))


def _handle_csrf(error: CSRFError):
    return error_page(
        400, f"The form could not be accepted ({error.description}). Reload the page and try again."
    )


def viewer_zone() -> str | None:
    """Return the place the signed-in user reads local time in, if they chose one."""
    return getattr(current_user, "timezone", None) if current_user else None


def as_sentence(text: object) -> str:
    """Return ``text`` ending as a sentence does, so another may follow it."""
    said = str(text).strip()
    return said if not said or said[-1] in ".!?" else f"{said}."


def init_app(app: Flask) -> None:
    """Register the pages, sessions, CSRF protection, error pages and template helpers."""
    from . import auth, browse, captures, media, search  # noqa: F401 - they add their routes to bp

    app.config.setdefault("BOOTSTRAP_SERVE_LOCAL", True)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)  # a working day on one form
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    Bootstrap5(app)
    csrf.init_app(app)
    for blueprint in app.blueprints.values():
        if (blueprint.url_prefix or "").startswith("/api/"):
            csrf.exempt(blueprint)  # the API authenticates by bearer key, not by cookie
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    # No "strong" protection: it compares the User-Agent and X-Forwarded-For, which any client
    # sets; sessions are ended on the server instead (services/sessions.py).
    login_manager.session_protection = None
    app.permanent_session_lifetime = timedelta(hours=float(app.config["SESSION_MAX_HOURS"]))
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _handle_http)
    for code in (400, 403, 404, 405, 413):
        app.register_error_handler(code, _handle_http)
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(ServiceError, _handle_service_error)
    app.jinja_env.filters.update(
        utc=_utc,
        filesize=_filesize,
        clock=_clock,
        sentence=as_sentence,
        platform=platform_label,
        kind_label=wording.kind_label,
        audit_lines=audit_lines,
        browser=browser_summary,
        report_time=reports.when,
        marked=marked,
        minutes=minutes,
    )
    app.jinja_env.globals.update(
        can=can,
        evidence_text=wording.evidence_text,
        link_label=wording.link_label,
        match_name=wording.match_name,
        zone_choices=ZONE_CHOICES,
        viewer_zone=viewer_zone,
        field_labels=FIELD_LABELS,
    )


@bp.app_context_processor
def _roles() -> dict[str, Any]:
    return {"Role": Role}


def flash_errors(form: Any) -> None:
    """Flash a form's errors as one message (fields also show their own)."""
    if form.errors:
        flash("Please correct the fields marked below.", "danger")


def redirect_back(default: str) -> Any:
    """Redirect to the form's ``next`` field if it is on this site, else to ``default``."""
    target = request.form.get("next")
    return redirect(safe_next(target) if target else default)
