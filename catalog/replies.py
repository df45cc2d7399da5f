"""HTTP answers shared by the two entry points that speak HTTP, the JSON API and the web pages:
a service's domain error as an RFC 9457 problem, and a provenance report as JSON, CSV or a
printable page.

It sits below both blueprints so that neither imports the other; the report page's template
(``report.html``) is found through the app's template loader.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, render_template

from .services import Conflict, Invalid, NotFound, ServiceError, reports
from .services.search import Rejected

PROBLEM = "application/problem+json"
# Refusal codes that mean "this is not a file of a kind we take" (415) rather than a broken
# file of a kind we do take (422).
UNSUPPORTED_CODES = ("not_an_image", "unsupported_format", "not_a_video", "not_audio")


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """Return a problem+json response."""
    response = jsonify(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    )
    response.status_code = status
    response.mimetype = PROBLEM
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="catalog"'
    return response


def service_error(error: ServiceError) -> Response:
    """Map a service's domain error to its HTTP status (one place for every JSON answer)."""
    if isinstance(error, Rejected):
        status = 415 if error.code in UNSUPPORTED_CODES else 422
        return problem(
            status,
            "Unsupported Media Type" if status == 415 else "Unprocessable Content",
            str(error),
            code=error.code,
        )
    if isinstance(error, NotFound):
        return problem(404, "Not Found", str(error))
    if isinstance(error, Conflict):
        return problem(409, "Conflict", str(error))
    if isinstance(error, Invalid):
        return problem(422, "Unprocessable Content", str(error))
    return problem(400, "Bad Request", str(error))


def report_response(made: reports.Report, fmt: str, stem: str) -> Response | str:
    """Answer a report as JSON, CSV (a download) or a printable page."""
    if fmt == "json":
        return jsonify(reports.as_json(made))
    if fmt == "csv":
        response = current_app.response_class(reports.as_csv(made), mimetype="text/csv")
        response.headers["Content-Disposition"] = f"attachment; filename={stem}.csv"
        return response
    return render_template("report.html", report=made)
