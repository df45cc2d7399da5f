"""Searching what media say, on both engines (SQLite FTS5, PostgreSQL full-text): records
kept in step, folding, stemming, transliteration, phrases, fields, OCR slips, hostile
queries; the contracts of ``catalog find --json`` and ``GET /api/v1/search/text``."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import (
    Acknowledgement,
    AckStatus,
    Incident,
    Media,
    MediaKind,
    MediaText,
    Party,
    Sighting,
    Source,
)
from catalog.services import Invalid
from catalog.services.text import find_text
from catalog.services.text.engines import PG_VECTOR
from catalog.services.text.entries import add_entries, make_entry

from .api_tools import assert_problem, keys  # noqa: F401 - the fixture

HEX = "0123456789abcdef"


def media(session: Session, n: int, kind: MediaKind = MediaKind.IMAGE, **fields: object) -> Media:
    made = Media(
        sha256=(HEX[n % 16] * 63) + HEX[(n // 16) % 16],
        kind=kind,
        mime_type="video/mp4" if kind == MediaKind.VIDEO else "image/jpeg",
        size_bytes=1,
        **fields,
    )
    session.add(made)
    return made


@pytest.fixture
def catalogue(session: Session) -> dict[str, Media]:
    incident = Incident(title="Kremlin drone incident")
    tass = Source(name="ТАСС")
    kremlin = Party(name="Кремль")
    chyron = media(session, 1, title="Заявление пресс-секретаря", incident=incident)
    chyron.sightings.append(
        Sighting(caption="Дмитрий Песков: два беспилотника атаковали Кремль", source=tass)
    )
    chyron.acknowledgements.append(
        Acknowledgement(
            party=kremlin,
            status=AckStatus.OFFICIAL,
            statement="Two unmanned aerial vehicles were aimed at the Kremlin",
        )
    )
    kyiv = media(session, 2, kind=MediaKind.VIDEO, title="Zelensky in Kyiv", credit="AFP via Getty")
    river = media(session, 3, title="Щёлково embankment, smoke over the river")
    session.commit()
    add_entries(
        session,
        [
            make_entry(kyiv.id, "subtitle", "Зеленський виступив у Києві", at=12.0, until=15.5),
            make_entry(kyiv.id, "ocr", "BREAKING: PESKOV DENIES", at=31.0, until=35.0),
            make_entry(river.id, "ocr", "СРОЧНО: дым над Кремлём", box=(10, 20, 300, 40)),
        ],
    )
    session.commit()
    return {"chyron": chyron, "kyiv": kyiv, "river": river}


def ids(results) -> list[int]:  # noqa: ANN001
    return [r.media.id for r in results]


def test_records_are_searchable_and_kept_in_step(
    session: Session, catalogue: dict[str, Media]
) -> None:
    chyron = catalogue["chyron"]
    found = find_text(session, "беспилотники")
    assert ids(found) == [chyron.id]
    assert {h.field for h in found[0].hits} == {"caption"}
    # A record changed: its media's text follows within the same commit.
    chyron.incident.title = "Moscow night attack"
    session.commit()
    assert ids(find_text(session, "Moscow")) == [chyron.id]
    assert find_text(session, "incident", fields={"incident"}) == []
    party = session.scalar(sa.select(Party).where(Party.name == "Кремль"))
    party.name = "Администрация президента"
    session.commit()
    assert ids(find_text(session, "администрация", fields={"party"})) == [chyron.id]
    session.delete(chyron)
    session.commit()
    assert find_text(session, "Peskov", fields={"caption"}) == []


def test_folding_stemming_and_transliteration(
    session: Session, catalogue: dict[str, Media]
) -> None:
    chyron, kyiv, river = catalogue["chyron"], catalogue["kyiv"], catalogue["river"]
    # A Latin query finds the Cyrillic name, in another case, and the reverse.
    assert chyron.id in ids(find_text(session, "Peskov"))
    assert kyiv.id in ids(find_text(session, "Песков"))
    # Another inflected form (Russian stemming), ё read as е, case folded.
    assert chyron.id in ids(find_text(session, "ПЕСКОВА"))
    assert ids(find_text(session, "щелково")) == [river.id]
    assert river.id in ids(find_text(session, "кремль"))  # "Кремлём" in the OCR line
    # English stemming; a Ukrainian word by its prefix; spellings of one name.
    assert chyron.id in ids(find_text(session, "vehicle aim"))
    assert kyiv.id in ids(find_text(session, "Києва"))
    # Ukrainian's vowel alternation: "Київ" finds "у Києві" (and by the Latin "Kyiv" too).
    assert kyiv.id in ids(find_text(session, "Київ", fields={"subtitle"}))
    for spelling in ("Zelenskiy", "Zelenskyy", "Зеленский"):
        assert ids(find_text(session, spelling)) == [kyiv.id], spelling
    # Distractors find nothing.
    assert find_text(session, "Marseille") == []


def test_phrases_fields_and_times(session: Session, catalogue: dict[str, Media]) -> None:
    chyron, kyiv = catalogue["chyron"], catalogue["kyiv"]
    assert ids(find_text(session, '"два беспилотника"')) == [chyron.id]
    assert find_text(session, '"беспилотника два"') == []  # a phrase keeps its order
    found = find_text(session, "ocr:peskov")
    assert ids(found) == [kyiv.id]
    hit = found[0].hits[0]
    assert (hit.field, hit.at, hit.until) == ("ocr", 31.0, 35.0)
    assert hit.text[slice(*hit.marks[0])] == "PESKOV"
    sub = find_text(session, "Зеленський", fields={"subtitle"})[0].hits[0]
    assert sub.at == 12.0
    # Words in different texts of one media still find it, below one that has them together.
    spread = find_text(session, "Kyiv BREAKING")
    assert ids(spread) == [kyiv.id]


def test_ocr_slips_and_typos_are_forgiven(session: Session, catalogue: dict[str, Media]) -> None:
    chyron = catalogue["chyron"]
    assert chyron.id in ids(find_text(session, "беспилатника"))  # one letter misread
    assert chyron.id in ids(find_text(session, "Pesckov"))
    assert find_text(session, "Pxqzkov") == []


@pytest.mark.parametrize(
    "query",
    ['"', "NEAR(a b)", "*", "::", "-Песков", '"unbalanced Песков', "a OR b AND", "^x", "{stems}:x"],
)
def test_engine_syntax_is_never_passed_through(
    session: Session, catalogue: dict[str, Media], query: str
) -> None:
    try:
        find_text(session, query)
    except Invalid:
        pass  # a clear refusal is fine; an engine error is not


def test_hostile_queries_are_refused_clearly(session: Session) -> None:
    for query, message in (
        ("x" * 1001, "longer than"),
        ("!!! ---", "no words"),
        (" ".join(["слово"] * 17), "at most 16"),
    ):
        with pytest.raises(Invalid, match=message):
            find_text(session, query)
    with pytest.raises(Invalid, match="unknown field"):
        find_text(session, "x", fields={"password"})


def test_stored_text_is_cleaned(session: Session, catalogue: dict[str, Media]) -> None:
    river = catalogue["river"]
    river.description = "evil\u202e txet\u2066 " + "слово " * 10_000
    session.commit()
    row = session.scalar(
        sa.select(MediaText).where(MediaText.media_id == river.id, MediaText.field == "description")
    )
    assert "\u202e" not in row.text and "\u2066" not in row.text
    assert len(row.text) <= 20_000
    assert ids(find_text(session, "txet")) == [river.id]
    # What a reader brings is cleaned the same way (a NUL would stop PostgreSQL).
    read = make_entry(river.id, "ocr", "NUL\x00here \x07bell")
    assert read is not None and read.text == "NUL here bell"


def test_find_command_contract(runner: FlaskCliRunner, catalogue: dict[str, Media]) -> None:
    result = runner.invoke(args=["catalog", "find", "Peskov", "--limit", "5", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert {"media_id", "sha256", "kind", "score", "hits"} <= line.keys()
        for hit in line["hits"]:
            assert {"field", "text", "at"} <= hit.keys()
    video = next(line for line in lines if line["kind"] == "video")
    assert video["hits"][0] == {**video["hits"][0], "field": "ocr", "at": 31.0}
    assert [line["score"] for line in lines] == sorted(
        (line["score"] for line in lines), reverse=True
    )
    nothing = runner.invoke(args=["catalog", "find", "Marseille", "--json"])
    assert nothing.exit_code == 0 and nothing.stdout == ""
    refused = runner.invoke(args=["catalog", "find", "x" * 1001, "--json"])
    assert refused.exit_code != 0 and "longer than" in refused.output


def test_api_search_text(
    client: FlaskClient,
    keys: dict[str, dict[str, str]],  # noqa: F811 - the fixture
    catalogue: dict[str, Media],
) -> None:
    kyiv = catalogue["kyiv"]
    answer = client.get("/api/v1/search/text?q=Peskov&limit=1", headers=keys["viewer"])
    assert answer.status_code == 200
    assert len(answer.json["results"]) == 1
    narrowed = client.get("/api/v1/search/text?q=Peskov&kind=video", headers=keys["viewer"])
    assert [r["media_id"] for r in narrowed.json["results"]] == [kyiv.id]
    by_field = client.get("/api/v1/search/text?q=Peskov&field=caption", headers=keys["viewer"])
    assert {h["field"] for r in by_field.json["results"] for h in r["hits"]} == {"caption"}
    for bad in ("q=" + "x" * 1001, "q=%22", "q=Peskov&limit=0", "q=x&field=password"):
        response = client.get(f"/api/v1/search/text?{bad}", headers=keys["viewer"])
        assert response.status_code in (200, 422), bad
        if response.status_code == 422:
            assert_problem(response, 422)
    assert_problem(client.get("/api/v1/search/text?q=Peskov"), 401)


def test_withdrawn_media_are_not_found(session: Session, catalogue: dict[str, Media]) -> None:
    from catalog.models import utcnow

    kyiv = catalogue["kyiv"]
    kyiv.withdrawn_at = utcnow()
    session.commit()
    assert kyiv.id not in ids(find_text(session, "Peskov"))


def test_postgresql_index_expression_matches_the_migration() -> None:
    from importlib import import_module

    migration = import_module("migrations.versions.20261208_e6a6c0de0006_media_texts")
    assert migration.PG_VECTOR == PG_VECTOR


def test_words_close_together_rank_first(session: Session) -> None:
    far = media(session, 21, title="Песков " + "и другие слова " * 12 + "заявил о ракете")
    near = media(session, 22, title="Сегодня Песков заявил " + "и другие слова " * 12)
    session.commit()
    assert ids(find_text(session, "Песков заявил")) == [near.id, far.id]
