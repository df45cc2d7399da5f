"""People: users, their roles and API keys (``accounts``), and the browser sessions kept on
the server (``sessions``)."""

from .accounts import (
    USERNAME_RE,
    authenticate,
    create_api_key,
    create_user,
    get_user,
    user_by_id,
    user_for_api_key,
)

__all__ = [
    "USERNAME_RE",
    "authenticate",
    "create_api_key",
    "create_user",
    "get_user",
    "user_by_id",
    "user_for_api_key",
]
