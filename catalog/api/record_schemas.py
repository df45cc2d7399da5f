"""Request and response schemas for the named records (incidents, sources, parties, tags),
link reviews, and the admin resources (users and API keys)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..models import PartyKind, Role, SourceKind
from .schemas import URL, AcknowledgementOut, AwareDateTime, choice, patch_of


class SourceIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=choice(SourceKind))
    platform = fields.String(validate=validate.Length(max=64))
    url = URL
    affiliated_party = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "the party this source speaks for (state media for its government);"
            " created if new"
        },
    )
    affiliation = fields.String(validate=validate.Length(max=300))
    description = fields.String(validate=validate.Length(max=20000))


class PartyIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=choice(PartyKind))
    country = fields.String(validate=validate.Length(max=100))
    description = fields.String(validate=validate.Length(max=20000))


class IncidentIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    occurred_on = fields.Date()
    place = fields.String(validate=validate.Length(max=300))
    summary = fields.String(validate=validate.Length(max=20000))


class TagIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


SourcePatch = patch_of(SourceIn, "SourcePatch", keep=("name", "kind"))
PartyPatch = patch_of(PartyIn, "PartyPatch", keep=("name", "kind"))
IncidentPatch = patch_of(IncidentIn, "IncidentPatch", keep=("title",))
TagPatch = patch_of(TagIn, "TagPatch", keep=("name",))


class SourceOut(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.Function(lambda s: s.kind.value, metadata={"enum": [k.value for k in SourceKind]})
    platform = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    affiliated_party = fields.Function(
        lambda s: s.affiliated_party.name if s.affiliated_party else None, allow_none=True
    )
    affiliation = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    aliases = fields.Function(
        lambda s: s.aliases or [],
        metadata={"description": "names of sources merged into this one"},
    )


class PartyOut(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.Function(lambda p: p.kind.value, metadata={"enum": [k.value for k in PartyKind]})
    country = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    aliases = fields.Function(
        lambda p: p.aliases or [],
        metadata={"description": "names of parties merged into this one"},
    )


class MergeIn(Schema):
    into = fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "the id of the record that is kept; this one is merged into it"},
    )


class NamesQuery(Schema):
    q = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "only names starting with this (case ignored)"},
    )


class IncidentOut(Schema):
    id = fields.Integer()
    title = fields.String()
    occurred_on = fields.Date(allow_none=True)
    place = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)


class IncidentDetail(IncidentOut):
    media_count = fields.Integer()
    acknowledgements = fields.List(
        fields.Nested(AcknowledgementOut),
        metadata={"description": "stances on the incident as a whole"},
    )


class TagOut(Schema):
    id = fields.Integer()
    name = fields.String()
    media_count = fields.Integer()


class LinkReviewIn(Schema):
    review = fields.String(required=True, validate=validate.OneOf(["confirmed", "rejected"]))
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "why, in the reviewer's words"},
    )


class UserIn(Schema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$", error="1 to 64 letters, digits or . _ @ -"
        ),
    )
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=10, max=1024)
    )
    role = fields.String(load_default=Role.VIEWER.value, validate=choice(Role))
    display_name = fields.String(validate=validate.Length(max=200))


class UserPatch(Schema):
    role = fields.String(validate=choice(Role))
    active = fields.Boolean()
    display_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    password = fields.String(load_only=True, validate=validate.Length(min=10, max=1024))
    restore_keys = fields.Boolean(
        load_only=True,
        metadata={
            "description": "with active: true for a disabled user, let the API keys suspended"
            " when they were disabled work again; without it they are revoked"
        },
    )


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String(allow_none=True)
    role = fields.Function(lambda u: u.role.value, metadata={"enum": [r.value for r in Role]})
    active = fields.Boolean()
    created_at = AwareDateTime()
    last_login_at = AwareDateTime(allow_none=True)


class KeyIn(Schema):
    name = fields.String(load_default="default", validate=validate.Length(min=1, max=100))


class KeyOut(Schema):
    id = fields.Integer()
    user = fields.Function(lambda k: k.user.username)
    name = fields.String()
    prefix = fields.String(
        metadata={"description": "the key's first characters, to tell keys apart"}
    )
    active = fields.Boolean()
    created_at = AwareDateTime()
    last_used_at = AwareDateTime(
        allow_none=True, metadata={"description": "the key's last use, to the minute"}
    )
    revoked_at = AwareDateTime(allow_none=True)
    suspended_at = AwareDateTime(
        allow_none=True, metadata={"description": "set while its user is disabled"}
    )


class KeyCreated(KeyOut):
    secret = fields.String(
        metadata={"description": "the key itself; shown this once and never stored"}
    )


class SessionOut(Schema):
    id = fields.Integer()
    created_at = AwareDateTime(metadata={"description": "when the user signed in"})
    last_seen_at = AwareDateTime(
        metadata={"description": "the session's last request (to a minute)"}
    )
    address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)


class SessionsEnded(Schema):
    ended = fields.Integer(metadata={"description": "how many sessions were ended"})


class AnnotationIn(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    field = fields.String(
        allow_none=True,
        metadata={"description": "the sighting's field it corrects (posted_at, ...), or none"},
    )


class AnnotationOut(Schema):
    id = fields.Integer()
    sighting_id = fields.Integer()
    field = fields.String(allow_none=True)
    text = fields.String()
    created_by = fields.Function(lambda a: a.created_by.username if a.created_by else None)
    created_at = AwareDateTime()
