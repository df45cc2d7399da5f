"""/api/v1 named records (incidents, sources, parties, tags), incident-level
acknowledgements, single sightings and acknowledgements, and link reviews."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from ..db import get_session
from ..models import Incident, Party, Role, Source, Tag
from ..replies import report_response
from ..services import reports
from ..services.media import thresholds_from
from ..services.records import AcknowledgementInput, catalogue, editing, named
from . import api_user, require
from .record_schemas import (
    AnnotationIn,
    AnnotationOut,
    IncidentDetail,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    LinkReviewIn,
    MergeIn,
    NamesQuery,
    PartyIn,
    PartyOut,
    PartyPatch,
    SourceIn,
    SourceOut,
    SourcePatch,
    TagIn,
    TagOut,
    TagPatch,
)
from .schemas import (
    AcknowledgementIn,
    AcknowledgementOut,
    AcknowledgementPatch,
    Extended,
    IncidentReportQuery,
    LinkOut,
    SightingOut,
    SightingPatch,
)

blp = Blueprint(
    "records",
    __name__,
    url_prefix="/api/v1",
    description="Incidents, sources, parties, tags, sightings, acknowledgements, link reviews",
)
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


def _tag(tag: Tag, count: int | None = None) -> Extended:
    if count is None:
        count = named.tag_counts(get_session(), tag.id).get(tag.id, 0)
    return Extended(tag, media_count=count)


def _incident(incident: Incident) -> Extended:
    incident, count, acks = named.incident_detail(get_session(), incident.id)
    return Extended(incident, media_count=count, acknowledgements=acks)


def _routes(
    path: str,
    model: type[named.NamedModel],
    schema_in: Any,
    schema_patch: Any,
    schema_out: Any,
    noun: str,
    plural: str,
    *,
    item_out: Any = None,
    show: Callable[[Any], Any] = lambda record: record,
) -> None:
    """Register list, create, read, update and delete endpoints for a named record type."""
    item_out = item_out or schema_out

    class Collection(MethodView):
        @require(Role.VIEWER)
        @blp.doc(**SECURED)
        @blp.arguments(NamesQuery, location="query")
        @blp.response(200, schema_out(many=True))
        def get(self, args: dict[str, Any]):
            prefix = args.get("q")
            if model is Tag:
                return [
                    _tag(tag, count)
                    for tag, count in named.tags_with_counts(get_session())
                    if named.starts_with(tag.name, prefix)
                ]
            return named.list_named(get_session(), model, prefix)

        @require(Role.ANALYST)
        @blp.doc(**SECURED)
        @blp.arguments(schema_in)
        @blp.response(201, item_out)
        def post(self, args: dict[str, Any]):
            record = named.create_named(get_session(), model, args, api_user())
            return show(record), 201, {"Location": url_for(f"records.{noun}", record_id=record.id)}

    class Item(MethodView):
        @require(Role.VIEWER)
        @blp.doc(**SECURED)
        @blp.response(200, item_out)
        def get(self, record_id: int):
            return show(named.get_named(get_session(), model, record_id))

        @require(Role.ANALYST)
        @blp.doc(**SECURED)
        @blp.arguments(schema_patch)
        @blp.response(200, item_out)
        def patch(self, args: dict[str, Any], record_id: int):
            return show(named.update_named(get_session(), model, record_id, args, api_user()))

        @require(Role.ANALYST)
        @blp.doc(**SECURED)
        @blp.response(204)
        def delete(self, record_id: int):
            named.delete_named(get_session(), model, record_id, api_user())

    Collection.get.__doc__ = f"List {plural} by name (``q``: those whose name starts so)."
    Collection.post.__doc__ = f"Create a {noun}; its name must be new."
    Item.get.__doc__ = f"Return one {noun}."
    Item.patch.__doc__ = f"Change the given fields of a {noun} (null clears an optional field)."
    Item.delete.__doc__ = (
        "Delete a tag and take it off every media."
        if model is Tag
        else f"Delete a {noun} that nothing refers to any more (409 otherwise)."
    )
    blp.route(path, endpoint=plural)(type(f"{noun.title()}Collection", (Collection,), {}))
    blp.route(f"{path}/<id:record_id>", endpoint=noun)(type(f"{noun.title()}Item", (Item,), {}))


_routes(
    "/incidents",
    Incident,
    IncidentIn,
    IncidentPatch,
    IncidentOut,
    "incident",
    "incidents",
    item_out=IncidentDetail,
    show=_incident,
)
_routes("/sources", Source, SourceIn, SourcePatch, SourceOut, "source", "sources")
_routes("/parties", Party, PartyIn, PartyPatch, PartyOut, "party", "parties")
_routes("/tags", Tag, TagIn, TagPatch, TagOut, "tag", "tags", show=_tag)


def _merge_route(path: str, model: type[Party] | type[Source], schema_out: Any, noun: str) -> None:
    """Register the merge of one source or party into another."""

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(MergeIn)
    @blp.response(200, schema_out)
    def merge(args: dict[str, Any], record_id: int):
        return named.merge_named(get_session(), model, record_id, args["into"], api_user())

    merge.__doc__ = (
        f"Merge this {noun} into another (``into``): every reference moves there, this {noun}"
        " is deleted and its name becomes an alias of the one kept; answers the one kept."
    )
    blp.route(f"{path}/<id:record_id>/merge", endpoint=f"merge_{noun}", methods=["POST"])(merge)


_merge_route("/sources", Source, SourceOut, "source")
_merge_route("/parties", Party, PartyOut, "party")


@blp.route("/incidents/<id:record_id>/acknowledgements")
class IncidentAcknowledgements(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.response(200, AcknowledgementOut(many=True))
    def get(self, record_id: int):
        """List the stances parties took on the incident as a whole."""
        return named.incident_detail(get_session(), record_id)[2]

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(AcknowledgementIn)
    @blp.response(201, AcknowledgementOut)
    def post(self, args: dict[str, Any], record_id: int):
        """Record a party's stance on the incident as a whole (claimed, denied, ...)."""
        ack = editing.add_acknowledgement(
            get_session(), AcknowledgementInput(**args), api_user(), incident_id=record_id
        )
        return ack, 201, {"Location": url_for("records.acknowledgement", ack_id=ack.id)}


@blp.route("/sightings/<id:sighting_id>", endpoint="sighting")
class SightingItem(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.response(200, SightingOut)
    def get(self, sighting_id: int):
        """Return one sighting."""
        return editing.get_sighting(get_session(), sighting_id)

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(SightingPatch)
    @blp.response(200, SightingOut)
    def patch(self, args: dict[str, Any], sighting_id: int):
        """Change the given fields of a sighting (null clears one)."""
        return editing.update_sighting(get_session(), sighting_id, args, api_user())

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.response(204)
    def delete(self, sighting_id: int):
        """Remove a sighting recorded in error (the audit trail keeps what it said); one a
        capture recorded stays, and is corrected by an annotation."""
        editing.delete_sighting(get_session(), sighting_id, api_user())


@blp.route("/sightings/<id:sighting_id>/annotations", endpoint="sighting_annotations")
class SightingAnnotations(MethodView):
    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(AnnotationIn)
    @blp.response(201, AnnotationOut)
    def post(self, args: dict[str, Any], sighting_id: int):
        """Add a note to a sighting (on one of its fields, or the whole), never changed after:
        how what a capture recorded is corrected."""
        note = editing.annotate_sighting(
            get_session(), sighting_id, args["text"], args.get("field"), api_user()
        )
        return note, 201, {"Location": url_for("records.sighting", sighting_id=sighting_id)}


@blp.route("/acknowledgements/<id:ack_id>", endpoint="acknowledgement")
class AcknowledgementItem(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.response(200, AcknowledgementOut)
    def get(self, ack_id: int):
        """Return one acknowledgement (of a media or of an incident)."""
        return editing.get_acknowledgement(get_session(), ack_id)

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(AcknowledgementPatch)
    @blp.response(200, AcknowledgementOut)
    def patch(self, args: dict[str, Any], ack_id: int):
        """Change the given fields of an acknowledgement (party and status cannot be cleared)."""
        return editing.update_acknowledgement(get_session(), ack_id, args, api_user())

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.response(204)
    def delete(self, ack_id: int):
        """Remove an acknowledgement recorded in error (the audit trail keeps what it said)."""
        editing.delete_acknowledgement(get_session(), ack_id, api_user())


@blp.route("/links/<id:link_id>/review", methods=["POST"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.arguments(LinkReviewIn)
@blp.response(200, LinkOut)
def review_link(args: dict[str, Any], link_id: int):
    """Confirm or reject a link between two media."""
    return catalogue.review_link(
        get_session(), link_id, args["review"], api_user(), note=args.get("note")
    )


@blp.route("/incidents/<id:record_id>/report")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.arguments(IncidentReportQuery, location="query")
@blp.response(200, description="the report: JSON, CSV (text/csv) or a printable HTML page")
def incident_report(args: dict[str, Any], record_id: int):
    """The provenance report of a whole incident, its media grouped into duplicate clusters."""

    made = reports.incident_report(
        get_session(),
        record_id,
        thresholds_from(current_app.config).cluster_confidence,
        proposed=args["proposed"],
    )
    return report_response(made, args["format"], f"incident-{record_id}")
