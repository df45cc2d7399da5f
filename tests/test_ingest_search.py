"""Ingest and search services against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image
from sqlalchemy.orm import Session

from catalog import schema
from catalog.db import get_session, make_engine
from catalog.models import (
    AuditEvent,
    LinkKind,
    LinkReview,
    Media,
    MediaFeatures,
    MediaHash,
    MediaLink,
    Sighting,
)
from catalog.services import Invalid
from catalog.services.evidence import audit
from catalog.services.media import (
    Rejected,
    get_index,
    ingest_bytes,
    search_file,
    search_hash,
    thresholds_from,
)
from catalog.services.records import AcknowledgementInput, IngestDetails, SightingInput
from catalog.storage import get_storage

from .media import encode, pattern, sample

ASTRONAUT = sample("photos/astronaut.png")
MOSCOW = timezone(timedelta(hours=3))


def ingest(app: Flask, data: bytes, details: IngestDetails | None = None):
    return ingest_bytes(
        get_session(),
        get_storage(),
        get_index(),
        data,
        details or IngestDetails(),
        actor=None,
        thresholds=thresholds_from(app.config),
        max_pixels=app.config["MAX_IMAGE_PIXELS"],
    )


def search(app: Flask, data: bytes):
    return search_file(
        get_session(),
        get_index(),
        data,
        thresholds_from(app.config),
        max_pixels=app.config["MAX_IMAGE_PIXELS"],
    )


def count(session: Session, model: type) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def originals(app: Flask) -> list[str]:
    return list(get_storage(app).iter_originals())


def smaller_copy(data: bytes, quality: int = 60) -> bytes:
    image = Image.open(__import__("io").BytesIO(data)).convert("RGB")
    return encode(image.resize((image.width // 2, image.height // 2)), "JPEG", quality=quality)


def test_ingest_stores_file_hashes_keypoints_metadata_and_audit(
    app: Flask, session: Session
) -> None:
    data = sample("threatexchange/exif-rotn/exif-rotn-6.jpg")
    result = ingest(
        app,
        data,
        IngestDetails(title="Desk", credit="Photographer / Agency", original_filename="x.jpg"),
    )
    media = result.media
    assert result.created and result.near_duplicates == []
    assert (media.kind.value, media.mime_type, media.width, media.height) == (
        "image",
        "image/jpeg",
        756,
        1008,
    )
    assert media.extracted["exif"]["Make"] == "samsung" and media.capture_latitude == pytest.approx(
        38.977935
    )
    algorithms = session.execute(
        sa.select(MediaHash.algorithm, MediaHash.variant, MediaHash.bit_length).where(
            MediaHash.media_id == media.id
        )
    ).all()
    assert {("pdq", "full", 256), ("phash", "full", 64)} <= set(algorithms)
    assert (
        session.scalar(sa.select(MediaFeatures.keypoints).where(MediaFeatures.media_id == media.id))
        > 20
    )
    with get_storage().open(media.sha256) as handle:
        assert handle.read() == data
    event = session.scalar(sa.select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert (event.action, event.object_id, event.details["sha256"]) == (
        "media.create",
        str(media.id),
        media.sha256,
    )


def test_same_bytes_again_return_the_record_and_add_the_sighting(
    app: Flask, session: Session
) -> None:
    first = ingest(app, ASTRONAUT)
    posted = datetime(2023, 5, 3, 2, 30, tzinfo=MOSCOW)
    again = ingest(
        app,
        ASTRONAUT,
        IngestDetails(
            sighting=SightingInput(
                url="https://t.me/channel/42",
                platform="telegram",
                source="Channel",
                posted_at=posted,
            )
        ),
    )
    assert not again.created and again.media.id == first.media.id
    assert count(session, Media) == 1
    sighting = session.scalar(sa.select(Sighting))
    assert (sighting.url, sighting.posted_at, sighting.source.name) == (
        "https://t.me/channel/42",
        posted,
        "Channel",
    )
    actions = session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    # The new source, what the repeat added, and the sighting with its fields.
    assert actions == ["media.create", "source.create", "media.add_details", "sighting.create"]
    assert ingest(app, ASTRONAUT).created is False  # nothing new: nothing written
    assert count(session, AuditEvent) == 4
    assert originals(app) == [first.media.sha256]


def test_near_duplicates_are_linked_at_ingest(app: Flask, session: Session) -> None:
    original = ingest(app, ASTRONAUT).media
    copy = ingest(app, smaller_copy(ASTRONAUT))
    assert [m.media.id for m in copy.near_duplicates] == [original.id]
    link = session.scalar(sa.select(MediaLink))
    assert (link.source_media_id, link.target_media_id, link.kind) == (
        copy.media.id,
        original.id,
        LinkKind.NEAR_DUPLICATE,
    )
    assert link.algorithm == "pdq" and link.distance <= 31


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"<html><body>not a photo</body></html>", "not_an_image"),
        (encode(Image.new("RGB", (300, 200), "red"), "PNG")[:200], "truncated"),
    ],
)
def test_rejected_files_leave_no_row_and_no_file(
    app: Flask, session: Session, data: bytes, code: str
) -> None:
    with pytest.raises(Rejected) as raised:
        ingest(
            app, data, IngestDetails(title="x", sighting=SightingInput(url="https://example.org/p"))
        )
    assert raised.value.code in (code, "corrupt")
    assert (
        count(session, Media) == 0
        and count(session, Sighting) == 0
        and count(session, AuditEvent) == 0
    )
    assert originals(app) == [] and list(get_storage().tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("details", "message"),
    [
        (IngestDetails(sighting=SightingInput(url="javascript:alert(1)")), "http or https"),
        (IngestDetails(sighting=SightingInput(posted_at=datetime(2023, 5, 3, 2, 30))), "timezone"),
        (
            IngestDetails(
                sighting=SightingInput(
                    posted_at=datetime(2023, 5, 3, tzinfo=MOSCOW),
                    deleted_at=datetime(2023, 5, 2, tzinfo=MOSCOW),
                )
            ),
            "deleted before",
        ),
        (
            IngestDetails(acknowledgement=AcknowledgementInput(party="X", status="probably")),
            "status must be one of",
        ),
        (IngestDetails(title="t" * 501), "longer than 500"),
    ],
)
def test_invalid_details_store_nothing(
    app: Flask, session: Session, details: IngestDetails, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        ingest(app, ASTRONAUT, details)
    assert count(session, Media) == 0 and originals(app) == []


def test_a_failure_before_commit_removes_the_new_file(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full in the audit table")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        ingest(app, ASTRONAUT)
    assert count(session, Media) == 0 and count(session, MediaHash) == 0
    assert originals(app) == []


def test_search_by_file_exact_then_near_duplicates_with_provenance(
    app: Flask, session: Session
) -> None:
    posted = datetime(2023, 5, 3, 2, 30, tzinfo=MOSCOW)
    details = IngestDetails(
        sighting=SightingInput(
            url="https://t.me/c/1",
            source="Channel",
            posted_at=posted,
            deleted_at=posted + timedelta(minutes=7),
        ),
        acknowledgement=AcknowledgementInput(
            party="Government of R",
            status="semi_official",
            statement="Aired on state TV",
            source="State TV",
        ),
    )
    original = ingest(app, ASTRONAUT, details).media
    copy = ingest(app, smaller_copy(ASTRONAUT)).media
    exact, near = search(app, ASTRONAUT)
    assert (exact.media.id, exact.kind, exact.distance, exact.score) == (
        original.id,
        "exact",
        0.0,
        1.0,
    )
    assert (near.media.id, near.kind) == (copy.id, "near_duplicate")
    provenance = exact.as_dict()["provenance"]
    assert provenance["earliest_sighting"]["url"] == "https://t.me/c/1"
    # 02:37 in Moscow, kept and shown in UTC.
    assert provenance["earliest_sighting"]["deleted_at"] == "2023-05-02T23:37:00+00:00"
    assert provenance["acknowledgements"] == [
        {
            "party": "Government of R",
            "status": "semi_official",
            "statement": "Aired on state TV",
            "source": "State TV",
            "url": None,
            "stated_at": None,
            "media_id": original.id,
            "this_file": True,
            "relation": None,
            "summary": (
                "This file was semi-officially acknowledged by Government of R via State TV."
            ),
        }
    ]
    # Proposed by the matcher only: the original's facts are shown apart, not rolled up.
    shaky = near.as_dict()["provenance"]
    assert shaky["earliest_sighting"] is None and shaky["acknowledgements"] == []
    assert [u["media_id"] for u in shaky["unconfirmed"]] == [original.id]
    session.execute(sa.update(MediaLink).values(review=LinkReview.CONFIRMED))
    session.commit()
    _, near = search(app, ASTRONAUT)
    # Once confirmed, the copy inherits the cluster's provenance, saying it was the original
    # that was acknowledged.
    rolled = near.as_dict()["provenance"]
    assert rolled["sightings"] == 0 and rolled["earliest_sighting"]["media_id"] == original.id
    assert rolled["earliest_sighting"]["this_file"] is False
    [ack] = rolled["acknowledgements"]
    assert ack["this_file"] is False and ack["media_id"] == original.id
    assert (
        ack["summary"].startswith("A copy (re-encode, resize or edit) (#")
        and "semi-officially acknowledged by Government of R via State TV" in ack["summary"]
    )
    assert rolled["sources"] == ["Channel", "State TV"] and [
        m["media_id"] for m in rolled["cluster"]
    ] == [original.id]
    assert search(app, sample("photos/gravel.png")) == []
    with pytest.raises(Rejected):
        search(app, b"plain text")


def test_search_by_hash(app: Flask, session: Session) -> None:
    media = ingest(app, ASTRONAUT).media
    stored = session.scalar(
        sa.select(MediaHash.bits).where(
            MediaHash.media_id == media.id,
            MediaHash.algorithm == "pdq",
            MediaHash.variant == "full",
        )
    )
    flipped = bytearray(stored)
    flipped[0] ^= 0b111
    holder, thresholds = get_index(), thresholds_from(app.config)
    [hit] = search_hash(session, holder, "pdq", bytes(flipped).hex(), thresholds=thresholds)
    assert (hit.media.id, hit.distance) == (media.id, 3.0)
    assert (
        search_hash(
            session, holder, "pdq", bytes(flipped).hex(), max_distance=2, thresholds=thresholds
        )
        == []
    )
    for algorithm, value, distance in [
        ("pdq", "xyz", None),
        ("md5", "00" * 16, None),
        ("pdq", stored.hex(), 200),
        ("phash", "0" * 16, -1),
    ]:
        with pytest.raises(Invalid):
            search_hash(
                session, holder, algorithm, value, max_distance=distance, thresholds=thresholds
            )


def test_media_added_by_one_worker_is_found_by_another(
    fresh_database_url: str, app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    engine.dispose()
    media_root = str(tmp_path / "shared-media")
    one = app_factory(fresh_database_url, MEDIA_ROOT=media_root, INDEX_REFRESH_SECONDS=0.0)
    two = app_factory(fresh_database_url, MEDIA_ROOT=media_root, INDEX_REFRESH_SECONDS=0.0)
    with two.app_context():
        assert search(two, smaller_copy(ASTRONAUT)) == []  # loads an empty index
    with one.app_context():
        added = ingest(one, ASTRONAUT).media.id
    with two.app_context():
        assert [m.media.id for m in search(two, smaller_copy(ASTRONAUT))] == [added]
        assert get_index(two).index.hash_watermark > 0


def test_a_file_that_changed_after_it_was_fingerprinted_is_refused(
    app: Flask, session: Session
) -> None:
    # As in a folder being imported: the file is hashed, then rewritten before it is stored.
    from catalog.hashing.pipeline import fingerprint_for_ingest
    from catalog.services.media import ingest_fingerprinted

    stored, query = fingerprint_for_ingest(ASTRONAUT, app.config["MAX_IMAGE_PIXELS"])
    rewritten = encode(pattern(seed=31), "PNG")
    with pytest.raises(Rejected) as raised:
        ingest_fingerprinted(
            session,
            get_storage(),
            get_index(),
            rewritten,
            stored,
            query,
            IngestDetails(),
            actor=None,
            thresholds=thresholds_from(app.config),
        )
    assert raised.value.code == "changed"
    assert count(session, Media) == 0 and originals(app) == []
    assert list(get_storage().tmp.iterdir()) == []
