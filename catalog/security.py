"""Security headers and rate limits, from the maintained extensions rather than by hand.

Flask-Talisman sets a Content-Security-Policy that allows no inline script (and no inline
style: the pages keep both in static files), X-Content-Type-Options: nosniff, and forbids
framing (``frame-ancestors 'none'`` and X-Frame-Options: DENY); in production it also
redirects to HTTPS, sends HSTS and marks the session cookie Secure.

Password guessing is slowed, never turned into a lock an attacker controls: Flask-Limiter
allows a few sign-ins a minute per address, and failed sign-ins of one account from one
address earn growing waits before that address may try that account again; the account's
owner, signing in from elsewhere, is never held up. Counters live in the limiter's store
(``RATE_LIMIT_STORAGE_URI``: memory for one process, Redis for several), and behind proxies the
client address comes from ``X-Forwarded-For`` only for the ``TRUSTED_PROXIES`` in front.

Captures and uploads make work for the job workers and the store, so each user may ask for
``CAPTURE_RATE_LIMIT`` and ``UPLOAD_RATE_LIMIT`` of them, counted per user (the signed-in one
or the API key's), in the pages and the API together (``work_wait``).
"""

from __future__ import annotations

import math
import time
from typing import Literal

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman
from limits import RateLimitItem, parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from .storage import get_storage

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

# The store comes from the app (RATELIMIT_STORAGE_URI): one shared by every worker and server.
limiter = Limiter(get_remote_address, strategy="moving-window")
talisman = Talisman()


def login_limits() -> str:
    """Sign-in attempts allowed per address."""
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _pair(username: str) -> str:
    account = (username or "").strip().lower()[:64]
    return f"sign-in/{account}/{get_remote_address()}"


def sign_in_wait(username: str) -> int:
    """Seconds this address must still wait before trying ``username`` again (0: may try)."""
    key = _pair(username) + "/wait"
    if limiter.storage.get(key) <= 0:
        return 0
    return max(1, int(limiter.storage.get_expiry(key) - time.time() + 0.999))


def sign_in_failed(username: str) -> int:
    """Count a failed sign-in of ``username`` from this address; return the wait it earns."""
    config = current_app.config
    failures = limiter.storage.incr(
        _pair(username) + "/failures", int(config["LOGIN_FAILURE_WINDOW_SECONDS"])
    )
    free = int(config["LOGIN_FREE_FAILURES"])
    if failures <= free:
        return 0
    wait = min(
        # The exponent is capped: the wait is capped anyway, and 2 ** 1100 is no float.
        float(config["LOGIN_FIRST_WAIT_SECONDS"]) * 2 ** min(failures - free - 1, 30),
        float(config["LOGIN_MAX_WAIT_SECONDS"]),
    )
    key = _pair(username) + "/wait"
    limiter.storage.clear(key)
    limiter.storage.incr(key, max(1, int(wait)))
    return max(1, int(wait))


def sign_in_succeeded(username: str) -> None:
    """Forget this address's failures on ``username``."""
    for suffix in ("/failures", "/wait"):
        limiter.storage.clear(_pair(username) + suffix)


Work = Literal["capture", "upload"]
WORK_LIMITS: dict[str, str] = {"capture": "CAPTURE_RATE_LIMIT", "upload": "UPLOAD_RATE_LIMIT"}


def work_wait(kind: Work, user_id: int) -> int:
    """Count one capture or upload asked for by the user and return 0; or, over the user's
    limit, count nothing and return the seconds until one more is allowed."""
    if not limiter.enabled:
        return 0
    items = _limits(current_app.config[WORK_LIMITS[kind]])
    strategy, keys = limiter.limiter, (kind, f"user/{user_id}")
    for item in items:
        if not strategy.test(item, *keys):
            reset = strategy.get_window_stats(item, *keys).reset_time
            return max(1, math.ceil(reset - time.time()))
    for item in items:
        strategy.hit(item, *keys)
    return 0


def work_message(kind: Work, wait: int) -> str:
    """What a user over their limit of captures or uploads is told."""
    return f"too many {kind}s asked for by this user for now: try again in {wait} s"


def _limits(setting: object) -> list[RateLimitItem]:
    """Parse a limit in Flask-Limiter's notation ("60 per hour; 10 per minute")."""
    try:
        return parse_many(str(setting))
    except ValueError:
        raise RuntimeError(
            f"{setting!r} is not a rate limit (write e.g. '60 per hour; 10 per minute')"
        ) from None


def _policy(app: Flask) -> dict[str, str]:
    """The CSP, letting the player fetch from the bucket (its one origin) when videos are
    redirected there."""
    policy = dict(CSP)
    if int(app.config.get("S3_PRESIGNED_SECONDS") or 0) > 0:
        origin = get_storage(app).presign_origin()
        if origin is not None:
            policy["media-src"] = f"'self' {origin}"
    return policy


def init_app(app: Flask) -> None:
    """Attach the security headers and the rate limiter."""
    production = bool(app.config.get("FORCE_HTTPS"))
    talisman.init_app(
        app,
        force_https=production,
        strict_transport_security=production,
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_http_only=True,
        content_security_policy=_policy(app),
        frame_options="DENY",
        referrer_policy="same-origin",
    )
    for setting in WORK_LIMITS.values():
        _limits(app.config[setting])  # a typo stops the start, not the first request
    app.config["RATELIMIT_STORAGE_URI"] = app.config["RATE_LIMIT_STORAGE_URI"]
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:
        # Take the client's address and scheme from the last N proxies' headers, no further:
        # any client can send X-Forwarded-For, only our own proxies' entries are believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
