"""The web forms (Flask-WTF: each carries its CSRF token) and their translation into the
inputs the services take."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.utils import unset_value
from wtforms.validators import URL, DataRequired, Length, Optional, Regexp, ValidationError

from ..models import INCIDENT_ONLY_STATUSES, AckStatus, PartyKind, SourceKind, Verification
from ..services.records import AcknowledgementInput, IngestDetails, SightingInput

TIME_HINT = "2023-05-03T02:30+03:00"
PLATFORMS = [
    "",
    "telegram",
    "x",
    "facebook",
    "instagram",
    "tiktok",
    "youtube",
    "vk",
    "website",
    "tv",
    "wire",
    "other",
]
# How each platform is named to people ("x" alone reads like a close button).
PLATFORM_LABELS = {
    "telegram": "Telegram",
    "x": "X (Twitter)",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "vk": "VK",
    "website": "Website",
    "tv": "TV",
    "wire": "News wire",
    "other": "Other",
}


def platform_label(value: object) -> str:
    """Return a platform's name for people (values not in the list as they were given)."""
    return PLATFORM_LABELS.get(str(value), str(value))


class AwareDateTimeField(StringField):
    """A date and time with its timezone: a date-time picker and a zone beside it (the zone
    sent as ``<name>-tz``: UTC, an offset such as +03:00, or a place such as Europe/Kyiv), or
    typed in full (ISO 8601; 'Z' for UTC)."""

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        # The zone is a field of its own in the form; read it before the value is parsed.
        self.zone_text = (formdata.get(f"{self.name}-tz") or "").strip() if formdata else ""
        super().process(formdata, data, extra_filters=extra_filters)

    def process_formdata(self, valuelist: list[str]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        self.data = None
        self.raw_text = text
        if not text:
            return
        try:
            value = datetime.fromisoformat(
                text.replace(" ", "T", 1).replace("z", "Z").replace("Z", "+00:00")
            )
        except ValueError:
            raise ValueError(f"Not a date and time; write it like {TIME_HINT}.") from None
        if value.tzinfo is None:
            zone = zone_of(getattr(self, "zone_text", ""))
            if zone is None:
                raise ValueError(f"Add the timezone, like {TIME_HINT} or 2023-05-02T23:30Z.")
            value = value.replace(tzinfo=zone)
        self.data = value

    def _value(self) -> str:
        if getattr(self, "raw_text", None) is not None:
            return self.raw_text
        return self.data.isoformat(timespec="minutes") if self.data else ""

    def picker_value(self, zone_name: str) -> str:
        """The value for a date-time picker showing the time in ``zone_name``."""
        if getattr(self, "raw_text", None) is not None:
            return self.raw_text
        zone = zone_of(zone_name) or UTC
        return self.data.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if self.data else ""


def zone_of(text: str) -> tzinfo | None:
    """Return the zone a form names: "UTC", an offset such as +03:00, or a place; else None."""
    text = (text or "").strip()
    if not text:
        return None
    if text.upper() in ("UTC", "Z"):
        return UTC
    if text[0] in "+-":
        try:
            return datetime.fromisoformat(f"2000-01-01T00:00{text}").tzinfo
        except ValueError:
            return None
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# The zones a picker offers besides the viewer's own: UTC and every whole and half-hour offset
# in use, as offsets rather than places (a place's offset changes with the season).
ZONE_CHOICES = ["UTC"] + [
    f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    for minutes in range(-12 * 60, 14 * 60 + 1, 30)
    if minutes != 0
]


def _choices(enum: type[Enum], blank: str | None = None) -> list[SelectChoice]:
    items = [SelectChoice(m.value, m.value.replace("_", " ")) for m in enum]
    return ([SelectChoice("", blank)] if blank is not None else []) + items


# Fields where a party or a source is typed by name suggest the names held (the datalists of
# ``_name_lists.html``), so that one party is not entered under two spellings.
PARTY_SUGGESTIONS = {"list": "party-names", "autocomplete": "off"}
SOURCE_SUGGESTIONS = {"list": "source-names", "autocomplete": "off"}

# The stances a party takes on one media; an incident's may also be claimed or have
# involvement denied.
MEDIA_STANCES = [
    SelectChoice(m.value, m.value.replace("_", " "))
    for m in AckStatus
    if m not in INCIDENT_ONLY_STATUSES
]
INCIDENT_STANCES = [
    SelectChoice(m.value, label)
    for m, label in (
        (AckStatus.OFFICIAL, "officially acknowledged"),
        (AckStatus.SEMI_OFFICIAL, "semi-officially acknowledged"),
        (AckStatus.CLAIMED, "claimed it happened"),
        (AckStatus.UNACKNOWLEDGED, "unacknowledged"),
        (AckStatus.DENIED, "denied it happened"),
        (AckStatus.DENIED_INVOLVEMENT, "denied involvement"),
    )
]


def _url(required: bool = False) -> list:
    return [
        DataRequired() if required else Optional(),
        URL(require_tld=False, message="Enter a full http or https address."),
        Length(max=2048),
    ]


def _http_only(_form: Any, field: Any) -> None:
    if field.data and not field.data.lower().startswith(("http://", "https://")):
        raise ValidationError("Only http and https addresses are accepted.")


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class SightingFields(FlaskForm):
    url = StringField("Where it was seen (URL)", validators=[*_url(), _http_only])
    platform = SelectField(
        "Platform",
        choices=[SelectChoice(p, PLATFORM_LABELS.get(p, "—")) for p in PLATFORMS],
        validators=[Optional()],
    )
    source = StringField(
        "Source (outlet or account)",
        validators=[Optional(), Length(max=200)],
        render_kw=SOURCE_SUGGESTIONS,
    )
    account = StringField("Account", validators=[Optional(), Length(max=200)])
    posted_at = AwareDateTimeField("Posted at", validators=[Optional()], description=TIME_HINT)
    observed_at = AwareDateTimeField(
        "Observed at", validators=[Optional()], description="when you saw it"
    )
    deleted_at = AwareDateTimeField(
        "Deleted at", validators=[Optional()], description="if the post was taken down"
    )
    archive_url = StringField("Archived copy (URL)", validators=[*_url(), _http_only])

    def validate_deleted_at(self, field: Any) -> None:
        if field.data and self.posted_at.data and field.data < self.posted_at.data:
            raise ValidationError("A post cannot be deleted before it was posted.")

    def has_data(self) -> bool:
        return any(
            [
                self.url.data,
                self.source.data,
                self.account.data,
                self.posted_at.data,
                self.observed_at.data,
                self.deleted_at.data,
                self.archive_url.data,
            ]
        )

    def to_input(self) -> SightingInput:
        return SightingInput(
            url=self.url.data or None,
            platform=self.platform.data or None,
            source=self.source.data or None,
            account=self.account.data or None,
            posted_at=self.posted_at.data,
            observed_at=self.observed_at.data,
            deleted_at=self.deleted_at.data,
            archive_url=self.archive_url.data or None,
        )


class AcknowledgementFields(FlaskForm):
    party = StringField(
        "Party",
        validators=[Optional(), Length(max=200)],
        render_kw=PARTY_SUGGESTIONS,
        description="a government, agency, media outlet, person or group",
    )
    status = SelectField(
        "Status", choices=[SelectChoice("", "—"), *MEDIA_STANCES], validators=[Optional()]
    )
    statement = TextAreaField("Statement", validators=[Optional(), Length(max=20000)])
    source = StringField(
        "Made through (source)",
        validators=[Optional(), Length(max=200)],
        render_kw=SOURCE_SUGGESTIONS,
    )
    url = StringField("Statement URL", validators=[*_url(), _http_only])
    stated_at = AwareDateTimeField("Stated at", validators=[Optional()], description=TIME_HINT)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if bool(self.status.data) != bool(self.party.data):
            self.status.errors = [
                *self.status.errors,
                "Give both the party and its status, or neither.",
            ]
            return False
        return valid

    def has_data(self) -> bool:
        return bool(self.party.data or self.status.data)

    def to_input(self) -> AcknowledgementInput:
        return AcknowledgementInput(
            party=self.party.data,
            status=self.status.data,
            statement=self.statement.data or None,
            source=self.source.data or None,
            url=self.url.data or None,
            stated_at=self.stated_at.data,
        )


class AnnotationForm(FlaskForm):
    """A note on a sighting: how what a capture recorded is corrected."""

    field = SelectField(
        "Corrects",
        choices=[
            SelectChoice(value, label)
            for value, label in (
                ("", "the sighting as a whole"),
                ("url", "its URL"),
                ("platform", "its platform"),
                ("account", "its account"),
                ("posted_at", "its posted time"),
                ("observed_at", "its observed time"),
                ("caption", "its caption"),
            )
        ],
        validate_choice=True,
    )
    text = TextAreaField("Annotation", validators=[DataRequired(), Length(max=20000)])


class SightingForm(SightingFields):
    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.has_data():
            self.url.errors = [*self.url.errors, "Give at least a URL, a source or a time."]
            return False
        return True


class AcknowledgementForm(AcknowledgementFields):
    party = StringField(
        "Party", validators=[DataRequired(), Length(max=200)], render_kw=PARTY_SUGGESTIONS
    )
    status = SelectField("Status", choices=MEDIA_STANCES, validators=[DataRequired()])


class IncidentAcknowledgementForm(AcknowledgementForm):
    """A stance on an incident as a whole: also "claimed" or "denied involvement"."""

    status = SelectField("Stance", choices=INCIDENT_STANCES, validators=[DataRequired()])


def _tags(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


class MediaFields(FlaskForm):
    title = StringField("Title", validators=[Optional(), Length(max=500)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=20000)])
    credit = StringField(
        "Credit", validators=[Optional(), Length(max=500)], description="photographer / agency"
    )
    incident = StringField(
        "Incident",
        validators=[Optional(), Length(max=300)],
        description="pick one or type a new title",
    )
    tags = StringField(
        "Tags", validators=[Optional(), Length(max=2000)], description="separated by commas"
    )

    def validate_tags(self, field: Any) -> None:
        tags = _tags(field.data)
        if len(tags) > 50 or any(len(t) > 100 for t in tags):
            raise ValidationError("At most 50 tags of at most 100 characters each.")


class UploadForm(MediaFields):
    file = FileField("Image or video", validators=[FileRequired("Choose a file to upload.")])
    subtitles = FileField(
        "Subtitles (.srt or .vtt, optional)",
        description="Kept with the video's text, with their times, and searched.",
    )
    # Sub-forms, set per instance below.
    sighting: SightingFields
    acknowledgement: AcknowledgementFields

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Sub-forms with their own prefixes; they share this form's CSRF token.
        self.sighting = SightingFields(prefix="sighting", meta={"csrf": False})
        self.acknowledgement = AcknowledgementFields(prefix="ack", meta={"csrf": False})

    def validate(self, extra_validators: Any = None) -> bool:
        results = [
            super().validate(extra_validators),
            self.sighting.validate(),
            self.acknowledgement.validate(),
        ]
        return all(results)

    def all_errors(self) -> dict[str, list[str]]:
        """Return every field's errors, by the field's HTML name."""
        errors = {name: list(e) for name, e in self.errors.items()}
        for sub in (self.sighting, self.acknowledgement):
            for field in sub:
                if field.errors:
                    errors[field.name] = list(field.errors)
        return errors

    def details(self) -> IngestDetails:
        return IngestDetails(
            title=self.title.data or None,
            description=self.description.data or None,
            credit=self.credit.data or None,
            incident=self.incident.data or None,
            tags=_tags(self.tags.data),
            sighting=self.sighting.to_input() if self.sighting.has_data() else None,
            acknowledgement=self.acknowledgement.to_input()
            if self.acknowledgement.has_data()
            else None,
        )


class MediaEditForm(MediaFields):
    verification = SelectField("Verification", choices=_choices(Verification))
    claimed_captured_at = AwareDateTimeField(
        "Claimed capture time", validators=[Optional()], description=TIME_HINT
    )
    claimed_place = StringField("Claimed place", validators=[Optional(), Length(max=300)])

    def changes(self) -> dict[str, Any]:
        return {
            "title": self.title.data or None,
            "description": self.description.data or None,
            "credit": self.credit.data or None,
            "incident": self.incident.data or None,
            "verification": self.verification.data,
            "claimed_captured_at": self.claimed_captured_at.data,
            "claimed_place": self.claimed_place.data or None,
            "tags": _tags(self.tags.data),
        }


class SearchFileForm(FlaskForm):
    file = FileField("Image or video", validators=[FileRequired("Choose a file to search with.")])


class ReviewForm(FlaskForm):
    review = SelectField("Review", choices=[SelectChoice("confirmed"), SelectChoice("rejected")])
    note = StringField("Why (optional)", validators=[Optional(), Length(max=2000)])
    next = HiddenField()


class WithdrawForm(FlaskForm):
    """Withdraw a media catalogued by mistake: the reason is required and kept in the audit."""

    reason = TextAreaField("Why it is withdrawn", validators=[DataRequired(), Length(max=2000)])


class ConfirmForm(FlaskForm):
    """A button that posts: only the CSRF token and where to go next."""

    next = HiddenField()


class IncidentForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=300)])
    occurred_on = DateField("Occurred on", validators=[Optional()])
    place = StringField("Place", validators=[Optional(), Length(max=300)])
    summary = TextAreaField("Summary", validators=[Optional(), Length(max=20000)])


class SourceForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    kind = SelectField("Kind", choices=_choices(SourceKind))
    platform = StringField("Platform", validators=[Optional(), Length(max=64)])
    url = StringField("URL", validators=[*_url(), _http_only])
    affiliated_party = StringField(
        "Speaks for (party)",
        render_kw=PARTY_SUGGESTIONS,
        validators=[Optional(), Length(max=200)],
        description="state media for its government",
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=20000)])


class PartyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    kind = SelectField("Kind", choices=_choices(PartyKind))
    country = StringField("Country", validators=[Optional(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=20000)])


class MergeForm(FlaskForm):
    """Merge this party or source into another, named (the one kept)."""

    into = StringField(
        "Merge into",
        validators=[DataRequired(), Length(max=200)],
        description="the name of the one to keep",
    )


class HashSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    algorithm = SelectField(
        "Algorithm",
        choices=[SelectChoice("pdq", "PDQ (64 hex)"), SelectChoice("phash", "pHash (16 hex)")],
    )
    hash = StringField(
        "Hash",
        validators=[
            DataRequired(),
            Regexp(
                r"^\s*[0-9a-fA-F]{16}\s*$|^\s*[0-9a-fA-F]{64}\s*$",
                message="A hash is 16 (pHash) or 64 (PDQ) hexadecimal digits.",
            ),
        ],
    )
    max_distance = StringField(
        "Max distance",
        validators=[Optional(), Regexp(r"^\d{1,3}$", message="A whole number of bits.")],
    )


def record_values(form: FlaskForm) -> dict[str, Any]:
    """Return a record form's fields for the named-records service (blank → None)."""
    values = {}
    for field in form:
        if field.name in ("csrf_token", "next"):
            continue
        data = field.data
        values[field.name] = data if data not in ("",) else None
    return values


class CaptureForm(FlaskForm):
    url = StringField(
        "URL of the post",
        validators=[DataRequired(), Length(max=2048), URL(require_tld=False)],
    )
    incident = StringField("Incident", validators=[Optional(), Length(max=300)])
