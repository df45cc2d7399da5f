"""Withdrawing a media catalogued by mistake: out of lists, matches and reports, audited with
who and why, seen only by analysts with a banner, refused on upload again, restored by an
admin; its original removed by gc once the retention period has passed."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.models import Media, utcnow
from catalog.services.custody import collect_garbage, verify
from catalog.storage import get_storage

from .api_tools import ASTRONAUT, assert_problem, keys, upload
from .test_web import users

__all__ = ["keys", "users"]  # fixtures, used by name


def _catalogued(client: FlaskClient, keys) -> int:
    made = upload(client, keys["analyst"], metadata={"incident": "Test strike", "tags": ["t"]})
    assert made.status_code == 201, made.json
    return int(made.json["media"]["id"])


def _withdraw(client: FlaskClient, keys, media_id: int, reason: str = "a test upload"):  # noqa: ANN202
    return client.post(
        f"/api/v1/media/{media_id}/withdraw", headers=keys["analyst"], json={"reason": reason}
    )


def _searched(client: FlaskClient, keys) -> list[int]:
    found = client.post(
        "/api/v1/search",
        headers=keys["viewer"],
        data={"file": (io.BytesIO(ASTRONAUT), "q.jpg")},
        content_type="multipart/form-data",
    )
    assert found.status_code == 200, found.json
    return [m["media_id"] for m in found.json["matches"]]


def _tagged(client: FlaskClient, keys) -> int:
    tags = client.get("/api/v1/tags", headers=keys["viewer"]).json
    return next(t["media_count"] for t in tags if t["name"] == "t")


def _listed(client: FlaskClient, keys) -> list[int]:
    return [m["id"] for m in client.get("/api/v1/media", headers=keys["viewer"]).json["items"]]


def test_withdrawn_media_leaves_lists_search_and_reports_and_restore_brings_it_back(
    client: FlaskClient, keys
) -> None:
    media_id = _catalogued(client, keys)
    incident_id = client.get(f"/api/v1/media/{media_id}", headers=keys["viewer"]).json[
        "incident_id"
    ]
    assert media_id in _listed(client, keys) and media_id in _searched(client, keys)
    assert _tagged(client, keys) == 1

    done = _withdraw(client, keys, media_id, "uploaded to try the form")
    assert done.status_code == 200
    assert done.json["withdrawal"]["reason"] == "uploaded to try the form"
    assert done.json["withdrawal"]["withdrawn_by"] == "analyst"

    assert media_id not in _listed(client, keys)
    assert media_id not in _searched(client, keys)
    assert _tagged(client, keys) == 0
    report = client.get(f"/api/v1/incidents/{incident_id}/report", headers=keys["viewer"])
    assert report.status_code == 200 and report.json["media"] == []
    assert (
        client.get(f"/api/v1/incidents/{incident_id}", headers=keys["viewer"]).json["media_count"]
        == 0
    )
    assert_problem(
        client.get(f"/api/v1/media/{media_id}/report", headers=keys["viewer"]), 404, "withdrawn"
    )
    # Viewers do not see it; analysts see it with the withdrawal.
    assert_problem(client.get(f"/api/v1/media/{media_id}", headers=keys["viewer"]), 404)
    seen = client.get(f"/api/v1/media/{media_id}", headers=keys["analyst"])
    assert seen.status_code == 200 and seen.json["withdrawal"]["reason"]
    # Nor its file, its history or its provenance, by id.
    for path in ("original", "audit", "provenance"):
        assert_problem(client.get(f"/api/v1/media/{media_id}/{path}", headers=keys["viewer"]), 404)
        answer = client.get(f"/api/v1/media/{media_id}/{path}", headers=keys["analyst"])
        assert answer.status_code == 200
        answer.close()  # the original is streamed from its file

    events = client.get(f"/api/v1/media/{media_id}/audit", headers=keys["analyst"]).json
    withdrawn = [e for e in events if e["action"] == "media.withdraw"]
    assert withdrawn and withdrawn[0]["actor"] == "analyst"
    assert withdrawn[0]["details"]["reason"] == "uploaded to try the form"

    assert_problem(_withdraw(client, keys, media_id), 409, "already withdrawn")
    assert_problem(client.post(f"/api/v1/media/{media_id}/restore", headers=keys["analyst"]), 403)
    back = client.post(f"/api/v1/media/{media_id}/restore", headers=keys["admin"])
    assert back.status_code == 200 and back.json["withdrawal"] is None
    assert media_id in _listed(client, keys) and media_id in _searched(client, keys)
    events = client.get(f"/api/v1/media/{media_id}/audit", headers=keys["analyst"]).json
    assert [e["actor"] for e in events if e["action"] == "media.restore"] == ["admin"]
    assert_problem(client.post(f"/api/v1/media/{media_id}/restore", headers=keys["admin"]), 409)


def test_a_withdrawal_needs_a_reason(client: FlaskClient, keys) -> None:
    media_id = _catalogued(client, keys)
    assert_problem(_withdraw(client, keys, media_id, "   "), 422, "reason")
    assert_problem(
        client.post(f"/api/v1/media/{media_id}/withdraw", headers=keys["analyst"], json={}), 422
    )
    assert media_id in _listed(client, keys)


def test_uploading_a_withdrawn_file_again_says_so(client: FlaskClient, keys) -> None:
    media_id = _catalogued(client, keys)
    assert _withdraw(client, keys, media_id).status_code == 200
    again = upload(client, keys["analyst"])
    assert_problem(again, 409, f"media #{media_id}, withdrawn")
    assert "restore" in again.json["detail"]


def test_a_withdrawn_media_proposes_no_link_to_a_new_copy(client: FlaskClient, keys) -> None:
    from PIL import Image

    from .media import encode

    media_id = _catalogued(client, keys)
    assert _withdraw(client, keys, media_id).status_code == 200
    copy = encode(
        Image.open(io.BytesIO(ASTRONAUT)).convert("RGB").resize((256, 256)), "JPEG", quality=85
    )
    made = upload(client, keys["analyst"], copy, "copy.jpg")
    assert made.status_code == 201 and made.json["near_duplicates"] == []


def test_a_withdrawn_copy_leaves_its_clusters_provenance_and_look_ups(
    client: FlaskClient, keys
) -> None:
    from PIL import Image

    from .media import encode

    first = _catalogued(client, keys)
    copy = encode(
        Image.open(io.BytesIO(ASTRONAUT)).convert("RGB").resize((256, 256)), "JPEG", quality=85
    )
    made = upload(
        client,
        keys["analyst"],
        copy,
        "copy.jpg",
        metadata={"sighting": {"url": "https://t.me/c/9", "posted_at": "2020-01-01T00:00:00Z"}},
    )
    second = made.json["media"]["id"]
    assert [m["media_id"] for m in made.json["near_duplicates"]] == [first]
    # Confirmed, the copy's facts are the original's facts too (a proposed link would only
    # show them apart, unconfirmed).
    link = client.get(f"/api/v1/media/{second}", headers=keys["viewer"]).json["links"][0]
    confirmed = client.post(
        f"/api/v1/links/{link['id']}/review", headers=keys["analyst"], json={"review": "confirmed"}
    )
    assert confirmed.status_code == 200, confirmed.json

    def cluster_of(media_id: int) -> list[int]:
        report = client.get(
            f"/api/v1/media/{media_id}/report?scope=cluster", headers=keys["viewer"]
        )
        assert report.status_code == 200, report.json
        return sorted(m["id"] for m in report.json["media"])

    def earliest(media_id: int):  # noqa: ANN202
        answer = client.get(f"/api/v1/media/{media_id}/provenance", headers=keys["viewer"])
        return answer.json["earliest_sighting"]

    assert cluster_of(first) == sorted([first, second])
    assert earliest(first)["url"] == "https://t.me/c/9"
    sha256 = client.get(f"/api/v1/media/{second}", headers=keys["viewer"]).json["sha256"]
    assert client.get(f"/api/v1/lookup/sha256/{sha256}", headers=keys["viewer"]).status_code == 200

    assert client.get(f"/api/v1/media/{first}", headers=keys["viewer"]).json["links"]
    from .test_web import sign_in

    sign_in(client, "analyst")
    copy_link = re.compile(f'href="/media/{second}[#"]')
    assert copy_link.search(client.get(f"/media/{first}").get_data(as_text=True))
    assert _withdraw(client, keys, second).status_code == 200
    assert not copy_link.search(client.get(f"/media/{first}").get_data(as_text=True))
    assert client.get(f"/api/v1/media/{first}", headers=keys["viewer"]).json["links"] == []
    assert len(client.get(f"/api/v1/media/{second}", headers=keys["analyst"]).json["links"]) == 1
    assert cluster_of(first) == [first]
    assert earliest(first) is None  # the withdrawn copy's sighting is in no roll-up
    assert_problem(client.get(f"/api/v1/lookup/sha256/{sha256}", headers=keys["viewer"]), 404)


def test_gc_removes_a_withdrawn_original_only_after_the_retention_period(
    app: Flask, client: FlaskClient, keys
) -> None:
    media_id = _catalogued(client, keys)
    assert _withdraw(client, keys, media_id).status_code == 200
    with app.app_context():
        session, storage = get_session(), get_storage()
        sha256 = session.get(Media, media_id).sha256
        early = collect_garbage(session, storage, withdrawn_retention_days=30)
        assert early.withdrawn_removed == [] and early.withdrawn_kept == 1
        assert storage.exists(sha256)

        media = session.get(Media, media_id)
        media.withdrawn_at = utcnow() - timedelta(days=31)  # time passes
        session.commit()
        late = collect_garbage(session, storage, withdrawn_retention_days=30)
        assert late.withdrawn_removed == [media_id]
        assert not storage.exists(sha256)
        media = session.get(Media, media_id)
        assert media is not None and media.original_removed_at is not None
        assert media.hashes  # the row and its hashes are kept
        # On purpose: verify does not count the removed original as missing.
        checked = verify(session, storage)
        assert checked.missing == [] and checked.orphans == [] and checked.row_faults == []
    events = client.get(f"/api/v1/media/{media_id}/audit", headers=keys["analyst"]).json
    assert [e["actor"] for e in events if e["action"] == "media.original_remove"] == ["gc"]
    detail = client.get(f"/api/v1/media/{media_id}", headers=keys["analyst"]).json
    assert detail["withdrawal"]["original_removed_at"]


def test_gc_command_reads_the_retention_setting(app: Flask, client: FlaskClient, keys) -> None:
    media_id = _catalogued(client, keys)
    assert _withdraw(client, keys, media_id).status_code == 200
    runner = app.test_cli_runner()
    kept = runner.invoke(args=["catalog", "gc"])
    assert kept.exit_code == 0 and "withdrawn media" not in kept.output.split(";")[0]
    with app.app_context():
        sha256 = get_session().get(Media, media_id).sha256
        assert get_storage().exists(sha256)
    app.config["WITHDRAWN_RETENTION_DAYS"] = 0
    removed = runner.invoke(args=["catalog", "gc"])
    assert removed.exit_code == 0, removed.output
    assert f"removed the original of withdrawn media #{media_id}" in removed.output
    with app.app_context():
        assert not get_storage().exists(sha256)


def test_the_media_page_withdraws_shows_the_banner_and_an_admin_restores(
    app: Flask, client: FlaskClient, users
) -> None:
    from .test_web import sign_in, token, uploaded
    from .test_web import upload as web_upload

    sign_in(client, "analyst")
    media_id = uploaded(client)
    page = f"/media/{media_id}"
    assert "Withdraw this media" in client.get(page).get_data(as_text=True)
    csrf = token(client, page)

    blank = client.post(f"{page}/withdraw", data={"csrf_token": csrf, "reason": " "})
    assert blank.status_code == 302
    assert f'href="/media/{media_id}"' in client.get("/media").get_data(as_text=True)
    assert client.post(f"{page}/withdraw", data={"reason": "x"}).status_code == 400  # no CSRF

    done = client.post(
        f"{page}/withdraw", data={"csrf_token": csrf, "reason": "<b>test</b> upload"}
    )
    assert done.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "data-withdrawn" in html and "Withdrawn</strong> by analyst" in html
    assert "&lt;b&gt;test&lt;/b&gt; upload" in html and "<b>test</b>" not in html
    assert "data-restore" not in html and "Withdraw this media" not in html
    assert f'href="/media/{media_id}"' not in client.get("/media").get_data(as_text=True)
    assert f'href="/media/{media_id}"' not in client.get("/").get_data(as_text=True)
    again = web_upload(client)
    assert again.status_code == 422 and f"media #{media_id}, withdrawn" in again.get_data(
        as_text=True
    )

    client.post("/logout", data={"csrf_token": token(client)})
    sign_in(client, "viewer")
    assert client.get(page).status_code == 404
    assert client.get(f"{page}/original").status_code == 404
    client.post("/logout", data={"csrf_token": token(client)})
    sign_in(client, "admin")
    html = client.get(page).get_data(as_text=True)
    assert "data-restore" in html
    back = client.post(f"{page}/restore", data={"csrf_token": token(client, page)})
    assert back.status_code == 302
    assert "data-withdrawn" not in client.get(page).get_data(as_text=True)
    assert f'href="/media/{media_id}"' in client.get("/media").get_data(as_text=True)


def test_source_and_party_pages_leave_out_a_withdrawn_media(client: FlaskClient, keys) -> None:
    from .test_web import sign_in

    made = upload(
        client,
        keys["analyst"],
        metadata={
            "sighting": {"url": "https://t.me/chan/5", "source": "Chan"},
            "acknowledgement": {"party": "Gov", "status": "official", "source": "Chan"},
        },
    )
    media_id = made.json["media"]["id"]
    ids = {
        plural: {
            r["name"]: r["id"] for r in client.get(f"/api/v1/{plural}", headers=keys["viewer"]).json
        }
        for plural in ("sources", "parties")
    }
    pages = [f"/sources/{ids['sources']['Chan']}", f"/parties/{ids['parties']['Gov']}"]
    sign_in(client, "analyst")
    link = re.compile(f'href="/media/{media_id}[#"]')
    assert all(link.search(client.get(p).get_data(as_text=True)) for p in pages)
    assert _withdraw(client, keys, media_id).status_code == 200
    assert not any(link.search(client.get(p).get_data(as_text=True)) for p in pages)


def test_the_deletion_recheck_passes_withdrawn_media_by(
    app: Flask, client: FlaskClient, keys
) -> None:
    from catalog.netguard import AddressPolicy
    from catalog.services.collection import recheck_sightings

    made = upload(
        client, keys["analyst"], metadata={"sighting": {"url": "http://127.0.0.1:9/post/1"}}
    )
    media_id = made.json["media"]["id"]
    assert _withdraw(client, keys, media_id).status_code == 200
    with app.app_context():
        session = get_session()
        sighting_id = session.get(Media, media_id).sightings[0].id
        # Nothing leaves the machine: a loopback address, which the policy refuses unasked.
        policy = AddressPolicy.from_setting(None)
        assert [c.sighting_id for c in recheck_sightings(session, policy)] == []
        # Asked for by id (an analyst's "check again now"), it is still made.
        asked = list(recheck_sightings(session, policy, ids=[sighting_id]))
        assert [c.sighting_id for c in asked] == [sighting_id]
