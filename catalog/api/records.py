"""/api/v1 sources, parties, incidents, sightings, acknowledgements and link reviews."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from ..db import get_session
from ..models import Incident, Party, Role, Source
from ..services import catalogue
from . import api_user, require
from .schemas import IncidentIn, IncidentOut, LinkOut, LinkReviewIn, PartyIn, PartyOut, SourceIn, SourceOut

blp = Blueprint("records", __name__, url_prefix="/api/v1", description="Sources, parties, incidents and reviews")
SECURED = {"security": [{"bearerAuth": []}]}


def _collection(path: str, model: type, schema_in: type, schema_out: type, noun: str) -> None:
    """Register list and create endpoints for a named record type."""

    class Collection(MethodView):
        @require(Role.VIEWER)
        @blp.doc(**SECURED)
        @blp.response(200, schema_out(many=True))
        def get(self):
            return catalogue.list_named(get_session(), model)

        @require(Role.ANALYST)
        @blp.doc(**SECURED)
        @blp.arguments(schema_in)
        @blp.response(201, schema_out)
        def post(self, args: dict[str, Any]):
            record = catalogue.create_named(get_session(), model, args, api_user())
            return record, 201, {"Location": url_for(f"records.{noun}s") + f"#{record.id}"}

    Collection.get.__doc__ = f"List {noun}s."
    Collection.post.__doc__ = f"Create a {noun}."
    blp.route(path, endpoint=f"{noun}s")(type(f"{noun.title()}Collection", (Collection,), {}))


_collection("/sources", Source, SourceIn, SourceOut, "source")
_collection("/parties", Party, PartyIn, PartyOut, "party")
_collection("/incidents", Incident, IncidentIn, IncidentOut, "incident")


@blp.route("/sightings/<id:sighting_id>", methods=["DELETE"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.response(204)
def delete_sighting(sighting_id: int):
    """Remove a sighting recorded in error (the audit trail keeps it)."""
    catalogue.delete_sighting(get_session(), sighting_id, api_user())


@blp.route("/acknowledgements/<id:ack_id>", methods=["DELETE"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.response(204)
def delete_acknowledgement(ack_id: int):
    """Remove an acknowledgement recorded in error (the audit trail keeps it)."""
    catalogue.delete_acknowledgement(get_session(), ack_id, api_user())


@blp.route("/links/<id:link_id>/review", methods=["POST"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.arguments(LinkReviewIn)
@blp.response(200, LinkOut)
def review_link(args: dict[str, Any], link_id: int):
    """Confirm or reject a link between two media."""
    return catalogue.review_link(get_session(), link_id, args["review"], api_user())
