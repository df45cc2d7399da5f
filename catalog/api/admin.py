"""/api/v1 users and API keys, for admins; /api/v1/me tells any key whose it is."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from ..db import get_session
from ..models import Role
from ..services.people import accounts, sessions
from . import api_user, require
from .record_schemas import (
    KeyCreated,
    KeyIn,
    KeyOut,
    SessionOut,
    SessionsEnded,
    UserIn,
    UserOut,
    UserPatch,
)
from .schemas import Extended

blp = Blueprint("admin", __name__, url_prefix="/api/v1", description="Users and API keys (admin)")
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


@blp.route("/me")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.response(200, UserOut)
def me():
    """Return the user the presented key belongs to, with their role."""
    return api_user()


@blp.route("/users", endpoint="users")
class Users(MethodView):
    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.response(200, UserOut(many=True))
    def get(self):
        """List users."""
        return accounts.list_users(get_session())

    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.arguments(UserIn)
    @blp.response(201, UserOut)
    def post(self, args: dict[str, Any]):
        """Create a user (viewer unless a role is given)."""
        user = accounts.create_user(
            get_session(),
            args["username"],
            args["password"],
            args["role"],
            display_name=args.get("display_name"),
            actor=api_user(),
        )
        return user, 201, {"Location": url_for("admin.user", user_id=user.id)}


@blp.route("/users/<id:user_id>", endpoint="user")
class UserItem(MethodView):
    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.response(200, UserOut)
    def get(self, user_id: int):
        """Return one user."""
        return accounts.user_by_id(get_session(), user_id)

    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.arguments(UserPatch)
    @blp.response(200, UserOut)
    def patch(self, args: dict[str, Any], user_id: int):
        """Change a user's role, display name or password, or disable them (keys stop at once)."""
        return accounts.update_user(get_session(), user_id, args, actor=api_user())


@blp.route("/users/<id:user_id>/keys", endpoint="user_keys")
class UserKeys(MethodView):
    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.response(200, KeyOut(many=True))
    def get(self, user_id: int):
        """List a user's API keys (never the secrets)."""
        user = accounts.user_by_id(get_session(), user_id)
        return accounts.list_api_keys(get_session(), user.username)

    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.arguments(KeyIn)
    @blp.response(201, KeyCreated)
    def post(self, args: dict[str, Any], user_id: int):
        """Create an API key for a user; the answer holds the secret, shown this once."""
        user = accounts.user_by_id(get_session(), user_id)
        key, secret = accounts.create_api_key(
            get_session(), user.username, args["name"], actor=api_user()
        )
        return Extended(key, secret=secret), 201, {"Location": url_for("admin.key", key_id=key.id)}


@blp.route("/users/<id:user_id>/sessions", endpoint="user_sessions")
class UserSessions(MethodView):
    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.response(200, SessionOut(many=True))
    def get(self, user_id: int):
        """List where a user is signed in through the web pages."""
        user = accounts.user_by_id(get_session(), user_id)
        return sessions.list_sessions(get_session(), user.id)

    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.response(200, SessionsEnded)
    def delete(self, user_id: int):
        """End every web session of a user at once (their API keys are not touched)."""
        user = accounts.user_by_id(get_session(), user_id)
        return {"ended": sessions.end_all(get_session(), user, actor=api_user())}


@blp.route("/keys")
@require(Role.ADMIN)
@blp.doc(**SECURED)
@blp.response(200, KeyOut(many=True))
def keys():
    """List every API key (never the secrets)."""
    return accounts.list_api_keys(get_session())


@blp.route("/keys/<id:key_id>", endpoint="key")
class KeyItem(MethodView):
    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.response(200, KeyOut)
    def get(self, key_id: int):
        """Return one API key (never the secret)."""
        return accounts.key_by_id(get_session(), key_id)

    @require(Role.ADMIN)
    @blp.doc(**SECURED)
    @blp.response(204)
    def delete(self, key_id: int):
        """Revoke a key; it stops working at once and stays listed as revoked."""
        accounts.revoke_api_key(get_session(), key_id, actor=api_user())
