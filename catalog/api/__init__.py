"""The JSON API under /api/v1: flask-smorest blueprints, bearer-key authentication, roles,
and errors as application/problem+json (RFC 9457). The OpenAPI document is generated from
the request and response schemas and served at /api/v1/openapi.json, with Swagger UI at
/api/v1/docs using assets installed locally (no CDN)."""

from __future__ import annotations

import http
from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol, cast

from apispec import BasePlugin
from flask import Flask, current_app, g, jsonify, render_template, request, send_from_directory
from flask_smorest import Api, abort
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from ..db import get_session
from ..models import Role, User
from ..replies import PROBLEM, problem, service_error, status_title
from ..services import ServiceError
from ..services.people import accounts

PREFIX = "/api/v1"


class Problem(Schema):
    """An RFC 9457 problem: every error the API answers has this shape."""

    type = fields.String(
        metadata={"description": "always about:blank: the status says what kind of problem"}
    )
    title = fields.String(metadata={"description": "the HTTP status phrase"})
    status = fields.Integer()
    detail = fields.String(metadata={"description": "what went wrong, for a person"})
    errors = fields.Raw(metadata={"description": "per field, what is wrong with it (400 and 422)"})
    code = fields.String(
        metadata={"description": "why a file was refused, for programs (415 and 422 on uploads)"}
    )


class ProblemResponses(BasePlugin):
    """Document the problems each operation can answer, so clients know them from the document."""

    NAMED = ("/incidents", "/sources", "/parties", "/tags", "/users")

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **_kwargs: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            codes = []
            if operation.get("security"):
                codes += ["UNAUTHORIZED", "FORBIDDEN"]
            if path and "{" in path:
                codes.append("NOT_FOUND")
            body = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in body:
                codes += [
                    "REQUEST_ENTITY_TOO_LARGE",
                    "UNSUPPORTED_MEDIA_TYPE",
                    "UNPROCESSABLE_ENTITY",
                ]
            if "application/json" in body:
                codes.append("BAD_REQUEST")
            if (
                method in ("post", "patch", "delete")
                and path
                and path.startswith(tuple(PREFIX + n for n in self.NAMED))
            ):
                codes.append("CONFLICT")
            for name in codes:
                responses.setdefault(str(http.HTTPStatus[name].value), name)


class CatalogApi(Api):
    """flask-smorest's Api with RFC 9457 problem responses for the API's paths only."""

    ERROR_SCHEMA = Problem

    def _register_responses(self) -> None:
        # As flask-smorest's own, but errors are documented as application/problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

    def handle_http_exception(self, error: HTTPException):
        if not request.path.startswith(PREFIX + "/"):
            return error  # pages keep Flask's own error responses
        data = getattr(error, "data", None) or {}
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": status_title(error.code or 500),
            "status": error.code,
            "detail": data.get("message") or error.description,
        }
        if "messages" in data:
            body["errors"] = data["messages"]
        elif "errors" in data:
            body["errors"] = data["errors"]
        if error.code == 413:
            limit = current_app.config["MAX_UPLOAD_MB"]
            body["detail"] = f"the upload is larger than the limit of {limit:g} MB"
        response = jsonify(body)
        response.status_code = error.code or 500
        response.mimetype = PROBLEM
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        if error.code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="catalog"'
        return response


class RoleMarkedView(Protocol):
    """A view that ``require`` wrapped, marked with the role it lets through."""

    _catalog_role: Role

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def require(role: Role) -> Callable:
    """Let the request through with a valid API key of at least ``role``; sets g.api_user."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return problem(
                    401, "Unauthorized", "send an API key as 'Authorization: Bearer <key>'"
                )
            user = accounts.user_for_api_key(get_session(), token.strip())
            if user is None:
                return problem(
                    401, "Unauthorized", "the API key is unknown, revoked, or its user is disabled"
                )
            if not user.role.allows(role):
                return problem(
                    403,
                    "Forbidden",
                    f"this needs the {role.value} role; the key's user is {user.role.value}",
                )
            g.api_user = user
            return view(*args, **kwargs)

        # Read by the test that checks a role rule on every route of the URL map. A function
        # takes any attribute; the cast tells the type checker which one it now has.
        marked = cast(RoleMarkedView, wrapped)
        marked._catalog_role = role
        return marked

    return decorate


def api_user() -> User:
    """Return the user of the current API request."""
    return g.api_user


MAX_ID = 2**31 - 1  # PostgreSQL INTEGER


class IdConverter(IntegerConverter):
    """Row ids in paths: positive and small enough for every database (else 404, not 500)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def _no_nul_in_query() -> None:
    """Refuse a query string with a NUL character: no filter means one, and PostgreSQL text
    cannot hold it (it would fail the query, not answer it)."""
    if not request.path.startswith(PREFIX):
        return
    for name, value in request.args.items(multi=True):
        if "\x00" in value or "\x00" in name:
            abort(422, message=f"the query parameter {name!r} contains a NUL character")


def init_app(app: Flask) -> None:
    """Create the API, register its blueprints and the local Swagger UI assets."""
    import swagger_ui_bundle

    app.config.setdefault("API_TITLE", "Media-evidence catalogue")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # The documentation page is our own (below): flask-smorest's has an inline script.
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", None)
    app.url_map.converters["id"] = IdConverter
    api = CatalogApi(
        app, spec_kwargs={"info": {"description": __doc__}, "extra_plugins": [ProblemResponses()]}
    )
    api.register_converter(
        IdConverter, lambda _c: {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    app.register_error_handler(ServiceError, service_error)

    @app.get(f"{PREFIX}/docs/assets/<path:filename>")
    def swagger_assets(filename: str):
        """Serve Swagger UI's files from the installed package."""
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    @app.get(f"{PREFIX}/docs")
    def swagger_ui():
        """The interactive documentation of the API (Swagger UI, served locally)."""
        return render_template(
            "swagger.html", title=app.config["API_TITLE"], spec_url=f"{PREFIX}/openapi.json"
        )

    from . import admin, captures, media, records, search, uploads

    for module in (media, search, records, captures, uploads, admin):
        api.register_blueprint(module.blp)
    app.before_request(_no_nul_in_query)
    app.extensions["catalog.api"] = api
