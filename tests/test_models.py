"""Model constraints hold on every backend: uniqueness, vocabularies, cascades, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from catalog.models import (
    Acknowledgement,
    AckStatus,
    Incident,
    LinkKind,
    Media,
    MediaHash,
    MediaKind,
    MediaLink,
    Party,
    Sighting,
    Tag,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def new_media(sha: str = SHA_A, **fields: object) -> Media:
    values = {"kind": MediaKind.IMAGE, "mime_type": "image/jpeg", "size_bytes": 10}
    values.update(fields)
    return Media(sha256=sha, **values)


def test_sha256_is_unique(session: Session) -> None:
    session.add(new_media())
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(new_media())
        session.flush()


def test_sha256_must_be_a_full_digest(session: Session) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(new_media("abc"))
        session.flush()


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("acknowledgements", "status", "sort_of"),
        ("media", "verification", "probably"),
        ("media_links", "kind", "cousin_of"),
        ("users", "role", "superuser"),
    ],
)
def test_vocabularies_are_enforced_by_the_database(
    session: Session, table: str, column: str, value: str
) -> None:
    media = new_media()
    other = new_media(SHA_B)
    party = Party(name="Government of X")
    session.add_all([media, other, party])
    session.flush()
    rows = {
        "acknowledgements": "INSERT INTO acknowledgements (party_id, media_id, status, created_at) "
        f"VALUES ({party.id}, {media.id}, :v, CURRENT_TIMESTAMP)",
        "media": "UPDATE media SET verification = :v",
        "media_links": "INSERT INTO media_links"
        " (source_media_id, target_media_id, kind, review, created_at) "
        f"VALUES ({media.id}, {other.id}, :v, 'proposed', CURRENT_TIMESTAMP)",
        "users": "INSERT INTO users (username, password_hash, role, active, created_at) "
        "VALUES ('u', 'x', :v, true, CURRENT_TIMESTAMP)",
    }
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(sa.text(rows[table]), {"v": value})


def test_python_side_rejects_unknown_status(session: Session) -> None:
    party = Party(name="P")
    media = new_media()
    session.add_all([party, media])
    session.flush()
    with pytest.raises(StatementError), session.begin_nested():
        session.add(Acknowledgement(party=party, media=media, status="maybe"))
        session.flush()


def test_acknowledgement_needs_a_subject(session: Session) -> None:
    party = Party(name="P")
    session.add(party)
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Acknowledgement(party=party, status=AckStatus.DENIED))
        session.flush()


def test_link_to_itself_is_refused(session: Session) -> None:
    media = new_media()
    session.add(media)
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            MediaLink(
                source_media_id=media.id, target_media_id=media.id, kind=LinkKind.NEAR_DUPLICATE
            )
        )
        session.flush()


def test_deleting_media_cascades_to_its_rows_but_not_to_shared_ones(session: Session) -> None:
    incident = Incident(title="Incident")
    party = Party(name="P")
    tag = Tag(name="smoke")
    media = new_media(incident=incident, tags=[tag])
    other = new_media(SHA_B)
    session.add_all([media, other, party])
    session.flush()
    session.add_all(
        [
            MediaHash(media=media, algorithm="pdq", bits=b"\0" * 32, bit_length=256, quality=90),
            Sighting(media=media, url="https://t.me/x/1"),
            Acknowledgement(party=party, media=media, status=AckStatus.SEMI_OFFICIAL),
            MediaLink(
                source_media_id=other.id, target_media_id=media.id, kind=LinkKind.NEAR_DUPLICATE
            ),
        ]
    )
    session.flush()
    media_id = media.id
    # Delete in SQL so the database's ON DELETE rules are what is tested, not the ORM's.
    session.execute(sa.delete(Media).where(Media.id == media_id))
    session.expire_all()
    for model in (MediaHash, Sighting, Acknowledgement):
        assert session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(MediaLink)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(sa.text("media_tags"))) == 0
    assert session.get(Incident, incident.id) is not None
    assert session.get(Tag, tag.id) is not None
    assert session.get(Media, other.id) is not None


def test_deleting_incident_keeps_its_media(session: Session) -> None:
    incident = Incident(title="I")
    media = new_media(incident=incident)
    session.add(media)
    session.flush()
    session.execute(sa.delete(Incident).where(Incident.id == incident.id))
    session.expire_all()
    assert session.get(Media, media.id).incident_id is None


def test_timestamps_are_aware_utc_after_a_round_trip(session: Session) -> None:
    moscow = timezone(timedelta(hours=3))
    posted = datetime(2023, 5, 3, 2, 30, 15, 123456, tzinfo=moscow)
    media = new_media()
    session.add(Sighting(media=media, url="https://x", posted_at=posted))
    session.flush()
    session.expire_all()
    stored = session.scalar(sa.select(Sighting.posted_at))
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored == posted
    assert stored.hour == 23  # 02:30 in Moscow is 23:30 UTC the day before
    assert media.created_at.tzinfo is not None


def test_naive_timestamps_are_refused(session: Session) -> None:
    with pytest.raises(StatementError, match="naive datetime"), session.begin_nested():
        session.add(Sighting(media=new_media(), posted_at=datetime(2023, 5, 3, 2, 30)))
        session.flush()


def test_deleted_before_posted_is_refused(session: Session) -> None:
    posted = datetime(2023, 5, 3, 2, 30, tzinfo=UTC)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            Sighting(media=new_media(), posted_at=posted, deleted_at=posted - timedelta(minutes=1))
        )
        session.flush()


def test_metadata_documents_round_trip(session: Session) -> None:
    exif = {"Make": "Canon", "GPS": {"lat": 55.75, "lon": 37.62}, "tags": ["a", "ü"]}
    media = new_media(extracted={"exif": exif})
    session.add(media)
    session.flush()
    session.expire_all()
    assert session.get(Media, media.id).extracted == {"exif": exif}
