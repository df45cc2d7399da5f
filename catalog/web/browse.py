"""Browsing: the media list with filters and pages, incidents (media grouped into duplicate
clusters), sources and parties, with the forms to create and change them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..db import get_session
from ..models import AckStatus, Incident, MediaKind, Party, Role, Source, Verification
from ..replies import report_response
from ..services import ServiceError, reports
from ..services.evidence import grouped
from ..services.media import thresholds_from
from ..services.records import catalogue, editing, incident_story, named
from . import bp, role_required
from .forms import (
    ConfirmForm,
    IncidentAcknowledgementForm,
    IncidentForm,
    MergeForm,
    PartyForm,
    SourceForm,
    record_values,
)

PAGE = 48


def _day(text: str, field: str, errors: dict[str, str], *, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors[field] = "Use a date like 2023-05-03."
        return None
    moment = datetime.combine(day, time(0), tzinfo=UTC)
    return moment + timedelta(days=1) if end else moment  # "before" includes the day named


@bp.route("/media")
@role_required(Role.VIEWER)
def media_list():
    """Catalogued media, newest first, filtered, a page at a time."""
    args = request.args
    errors: dict[str, str] = {}
    choices = {
        "kind": [k.value for k in MediaKind],
        "status": [s.value for s in AckStatus],
        "verification": [v.value for v in Verification],
    }
    for field, allowed in choices.items():
        if args.get(field) and args[field] not in allowed:
            errors[field] = f"Choose one of {', '.join(allowed)}."
    if args.get("status") and not args.get("party"):
        errors["status"] = "Pick the party whose status you mean."
    cursor = args.get("cursor", "")
    if cursor and (not cursor.isdigit() or not 0 < int(cursor) < 2**31):
        errors["cursor"] = "Not a page of this list."
    wanted = catalogue.MediaFilter(
        incident=args.get("incident") or None,
        kind=args.get("kind") or None,
        party=args.get("party") or None,
        status=args.get("status") or None,
        source=args.get("source") or None,
        tag=args.get("tag") or None,
        verification=args.get("verification") or None,
        q=(args.get("q") or "").strip()[:200] or None,
        added_after=_day(args.get("added_after", ""), "added_after", errors),
        added_before=_day(args.get("added_before", ""), "added_before", errors, end=True),
        seen_after=_day(args.get("seen_after", ""), "seen_after", errors),
        seen_before=_day(args.get("seen_before", ""), "seen_before", errors, end=True),
    )
    items, next_cursor = (
        ([], None)
        if errors
        else catalogue.list_media(
            get_session(), wanted, cursor=int(cursor) if cursor else None, limit=PAGE
        )
    )
    session = get_session()
    lists = {
        name: [r.title if model is Incident else r.name for r in named.list_named(session, model)]
        for name, model in (("incidents", Incident), ("parties", Party), ("sources", Source))
    }
    first_args = {k: v for k, v in args.to_dict().items() if k != "cursor"}
    next_args = {**first_args, "cursor": next_cursor} if next_cursor else None
    return render_template(
        "media_list.html",
        items=items,
        errors=errors,
        args=args,
        choices=choices,
        lists=lists,
        next_args=next_args,
        first_args=first_args,
    ), 422 if errors else 200


def _create(model: type[named.NamedModel], form: Any, endpoint: str, key: str) -> Any:
    if not form.validate_on_submit():
        flash(
            "Not created: "
            + "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items()),
            "danger",
        )
        return None
    try:
        record = named.create_named(get_session(), model, record_values(form), current_user)
    except ServiceError as exc:
        flash(f"Not created: {exc}", "danger")
        return None
    flash(f"Created {getattr(record, key)!s}.", "success")
    return redirect(url_for(endpoint, **{f"{endpoint.split('.')[1]}_id": record.id}))


def _update(model: type[named.NamedModel], record_id: int, form: Any) -> None:
    if not form.validate_on_submit():
        flash(
            "Not saved: " + "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items()),
            "danger",
        )
        return
    try:
        named.update_named(get_session(), model, record_id, record_values(form), current_user)
    except ServiceError as exc:
        flash(f"Not saved: {exc}", "danger")
    else:
        flash("Saved.", "success")


def _delete(model: type[named.NamedModel], record_id: int, endpoint: str) -> Any:
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            named.delete_named(get_session(), model, record_id, current_user)
        except ServiceError as exc:
            flash(f"Not deleted: {exc}", "danger")
            return None
        flash("Deleted.", "success")
        return redirect(url_for(endpoint))
    return None


@bp.route("/incidents", methods=["GET", "POST"])
@role_required(Role.VIEWER, post=Role.ANALYST)
def incidents():
    """Every incident, and the form to add one."""
    form = IncidentForm()
    if request.method == "POST":
        created = _create(Incident, form, "web.incident", "title")
        if created is not None:
            return created
    detail = [
        named.incident_detail(get_session(), i.id)
        for i in named.list_named(get_session(), Incident)
    ]
    return render_template("incidents.html", incidents=detail, form=form)


@bp.route("/incidents/<id:incident_id>")
@role_required(Role.VIEWER)
def incident(incident_id: int):
    """One incident: its stances, its media grouped into duplicate clusters (each with its
    acknowledgements and first sighting), and its timeline."""
    incident, count, acks = named.incident_detail(get_session(), incident_id)
    media = {m.id: m for m in named.incident_media(get_session(), incident_id)}
    # Clusters by confirmed links: a stance or a first sighting is a clip's only once a person
    # confirmed the copy (the media pages show what proposed links would add, apart).
    ids = grouped(
        get_session(),
        list(media),
        thresholds_from(current_app.config).cluster_confidence,
        confirmed_only=True,
    )
    groups = [[media[i] for i in group] for group in ids]
    # Who acknowledged which clip, where each cluster was first seen, and the day in order.
    story = incident_story(get_session(), incident_id, ids)
    form = IncidentForm(formdata=None, obj=incident)
    return render_template(
        "incident.html",
        incident=incident,
        count=count,
        acks=acks,
        groups=groups,
        story=story,
        media=media,
        form=form,
        ack_form=IncidentAcknowledgementForm(formdata=None),
        confirm=ConfirmForm(formdata=None),
    )


@bp.route("/incidents/<id:incident_id>/report.<any(json, csv, html, pdf):fmt>")
@role_required(Role.VIEWER)
def incident_report(incident_id: int, fmt: str):
    """The provenance report of a whole incident (?proposed=1: with unconfirmed facts apart)."""
    made = reports.incident_report(
        get_session(),
        incident_id,
        thresholds_from(current_app.config).cluster_confidence,
        proposed=request.args.get("proposed") == "1",
    )
    return report_response(made, fmt, f"incident-{incident_id}")


@bp.route("/incidents/<id:incident_id>/edit", methods=["POST"])
@role_required(Role.ANALYST)
def edit_incident(incident_id: int):
    """Change an incident."""
    _update(Incident, incident_id, IncidentForm())
    return redirect(url_for("web.incident", incident_id=incident_id))


@bp.route("/incidents/<id:incident_id>/delete", methods=["POST"])
@role_required(Role.ANALYST)
def delete_incident(incident_id: int):
    """Delete an incident that holds no media and no stances."""
    return _delete(Incident, incident_id, "web.incidents") or redirect(
        url_for("web.incident", incident_id=incident_id)
    )


@bp.route("/incidents/<id:incident_id>/acknowledgements", methods=["POST"])
@role_required(Role.ANALYST)
def add_incident_acknowledgement(incident_id: int):
    """Record a party's stance on the incident as a whole."""
    form = IncidentAcknowledgementForm()
    if form.validate():
        try:
            editing.add_acknowledgement(
                get_session(), form.to_input(), current_user, incident_id=incident_id
            )
        except ServiceError as exc:
            flash(f"Not saved: {exc}", "danger")
        else:
            flash("Stance recorded.", "success")
    else:
        flash(
            "Not saved: " + "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items()),
            "danger",
        )
    return redirect(url_for("web.incident", incident_id=incident_id))


def _named_pages(
    model: type[named.NamedModel], form_class: type, plural: str, singular: str, detail: Any
) -> None:
    """Register the list, page, edit and delete views of sources or parties."""

    @role_required(Role.VIEWER, post=Role.ANALYST)
    def listing():
        form = form_class()
        if request.method == "POST":
            created = _create(model, form, f"web.{singular}", "name")
            if created is not None:
                return created
        return render_template(
            "_named_list.html",
            records=named.list_named(get_session(), model),
            form=form,
            heading=plural.title(),
            singular=singular,
            endpoint=f"web.{singular}",
            id_name=f"{singular}_id",
        )

    @role_required(Role.VIEWER)
    def page(**kwargs: int):
        record_id = kwargs[f"{singular}_id"]
        found = detail(get_session(), record_id)
        record = found[0]
        values = {f.name: getattr(record, f.name, None) for f in form_class(formdata=None)}
        values["kind"] = record.kind.value
        if model is Source:
            values["affiliated_party"] = (
                record.affiliated_party.name if record.affiliated_party else ""
            )
        form = form_class(formdata=None, data=values)
        return render_template(
            f"{singular}.html",
            record=record,
            found=found,
            form=form,
            confirm=ConfirmForm(formdata=None),
            merge_form=MergeForm(formdata=None),
        )

    @role_required(Role.ANALYST)
    def edit(**kwargs: Any):
        record_id = kwargs[f"{singular}_id"]
        _update(model, record_id, form_class())
        return redirect(url_for(f"web.{singular}", **kwargs))

    @role_required(Role.ANALYST)
    def delete(**kwargs: Any):
        return _delete(model, kwargs[f"{singular}_id"], f"web.{plural}") or redirect(
            url_for(f"web.{singular}", **kwargs)
        )

    listing.__doc__ = f"Every {singular}, and the form to add one."
    page.__doc__ = f"One {singular} and what refers to it."

    @role_required(Role.ANALYST)
    def merge(**kwargs: Any):
        record_id = kwargs[f"{singular}_id"]
        form = MergeForm()
        if not form.validate_on_submit():
            flash("Not merged: name the " + singular + " to merge into.", "danger")
            return redirect(url_for(f"web.{singular}", **kwargs))
        target = named.find_named(get_session(), model, form.into.data)  # type: ignore[arg-type]
        if target is None:
            flash(f"Not merged: there is no {singular} named {form.into.data!r}.", "danger")
            return redirect(url_for(f"web.{singular}", **kwargs))
        try:
            kept = named.merge_named(
                get_session(),
                model,  # type: ignore[arg-type]
                record_id,
                target.id,
                current_user,
            )
        except ServiceError as exc:
            flash(f"Not merged: {exc}", "danger")
            return redirect(url_for(f"web.{singular}", **kwargs))
        flash(f"Merged into {kept.name}.", "success")
        return redirect(url_for(f"web.{singular}", **{f"{singular}_id": kept.id}))

    edit.__doc__ = f"Change a {singular}."
    merge.__doc__ = (
        f"Merge a {singular} into another: what refers to it moves there, its name stays an alias."
    )
    delete.__doc__ = f"Delete a {singular} nothing refers to."
    bp.add_url_rule(f"/{plural}", plural, listing, methods=["GET", "POST"])
    bp.add_url_rule(f"/{plural}/<id:{singular}_id>", singular, page)
    bp.add_url_rule(
        f"/{plural}/<id:{singular}_id>/edit", f"edit_{singular}", edit, methods=["POST"]
    )
    bp.add_url_rule(
        f"/{plural}/<id:{singular}_id>/delete", f"delete_{singular}", delete, methods=["POST"]
    )
    bp.add_url_rule(
        f"/{plural}/<id:{singular}_id>/merge", f"merge_{singular}", merge, methods=["POST"]
    )


@bp.app_template_global()
def name_suggestions(kind: str) -> list[str]:
    """The party or source names a typed field suggests (the 500 most recent)."""
    return named.suggest_names(get_session(), Party if kind == "party" else Source)


_named_pages(Source, SourceForm, "sources", "source", named.source_detail)
_named_pages(Party, PartyForm, "parties", "party", named.party_detail)
