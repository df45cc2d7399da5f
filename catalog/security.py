"""Security headers and rate limits, from the maintained extensions rather than by hand.

Flask-Talisman sets a Content-Security-Policy that allows no inline script (and no inline
style: the pages keep both in static files), X-Content-Type-Options: nosniff, and forbids
framing (``frame-ancestors 'none'`` and X-Frame-Options: DENY); in production it also
redirects to HTTPS, sends HSTS and marks the session cookie Secure. Flask-Limiter slows
password guessing: a few sign-ins a minute per address, and an account that failed too often
is locked for a while whatever address the attempts come from.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

limiter = Limiter(get_remote_address, storage_uri="memory://", strategy="moving-window")
talisman = Talisman()


def login_username() -> str:
    """The account a sign-in attempt names (the lock-out is per account)."""
    return "login:" + (request.form.get("username") or "").strip().lower()[:64]


def login_limits() -> str:
    """Sign-in attempts allowed per address."""
    return current_app.config["LOGIN_RATE_LIMIT"]


def lockout_limits() -> str:
    """Failed sign-ins an account may have before it is locked for the period."""
    return current_app.config["LOGIN_LOCKOUT"]


def init_app(app: Flask) -> None:
    """Attach the security headers and the rate limiter."""
    production = bool(app.config.get("FORCE_HTTPS"))
    talisman.init_app(
        app,
        force_https=production,
        strict_transport_security=production,
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_http_only=True,
        content_security_policy=CSP,
        frame_options="DENY",
        referrer_policy="same-origin",
    )
    app.config.setdefault(
        "RATELIMIT_STORAGE_URI", app.config.get("RATE_LIMIT_STORAGE_URI", "memory://")
    )
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
