"""The one name of a match: the same for the upload answer, search, the media page and the
stored link, whatever the kind of match."""

from __future__ import annotations

from catalog.services.evidence import (
    evidence_text,
    link_label,
    match_name,
    stored_algorithm,
    witness,
)
from catalog.services.evidence.walk import link_confidence


def test_a_still_is_the_frame_of_the_video_at_its_time() -> None:
    assert (
        match_name("near_duplicate", "pdq", time=7.2, other=2, other_kind="video")
        == "a frame of the video at 0:07 of #2"
    )
    # The stored link says the same: kind frame_of, with the time and the video.
    assert (
        match_name("frame_of", "pdq", time=7.2, other=2, this_kind="image", other_kind="video")
        == "a frame of the video at 0:07 of #2"
    )
    # Seen from the video, a still found in it is a frame of it, not of another video.
    assert match_name("frame_of", "orb", time=65, other=5, other_kind="image") == (
        "a frame of the video at 1:05"
    )


def test_a_recording_cut_from_a_videos_sound_is_an_excerpt_of_its_soundtrack() -> None:
    details = {
        "segments": [
            {"query_start": 0, "query_end": 6, "match_start": 5.1, "match_end": 11},
            {"query_start": 6, "query_end": 12, "match_start": 11, "match_end": 17.2},
        ]
    }
    said = match_name(
        "near_duplicate", "audio", details, other=1, this_kind="audio", other_kind="video"
    )
    assert said == "an excerpt of the soundtrack of #1 (0:05–0:17)"
    # Stored, the link has no segments: still an excerpt of the soundtrack.
    assert (
        match_name("near_duplicate", "audio", other=1, this_kind="audio", other_kind="video")
        == "an excerpt of the soundtrack of #1"
    )
    # Two recordings sharing sound are copies, not excerpts of a soundtrack.
    assert (
        match_name("near_duplicate", "audio", details, this_kind="audio", other_kind="audio")
        == "a copy (re-encode, resize or edit)"
    )


def test_a_mirrored_copy_stays_mirrored_once_stored() -> None:
    assert match_name("mirrored_rotated", "pdq") == "a mirrored or turned copy"
    # The link's kind is near_duplicate; its algorithm keeps the mirror.
    assert match_name("near_duplicate", "pdq-mirror") == "a mirrored or turned copy"
    assert link_label("near_duplicate", "orb-mirror") == "a mirrored or turned copy"
    assert evidence_text("pdq-mirror", 12) == "PDQ: 12 of 256 bits differ (mirrored)"
    # ... and counts as much as its witness does unmirrored.
    assert link_confidence("pdq-mirror", 12) == link_confidence("pdq", 12)
    assert link_confidence("orb-mirror", 256) == link_confidence("orb", 256)


def test_keypoint_evidence_gives_its_count_and_a_crop_is_named_a_crop() -> None:
    assert evidence_text("orb", 256, {"inliers": 12}) == "12 matching keypoints"
    assert (
        evidence_text("orb", 256, {"inliers": 40, "match_area": 0.56})
        == "40 matching keypoints; the copy shows 56% of the picture"
    )
    assert match_name("cropped_contained", "orb") == "a crop or part of the same picture"
    assert match_name("near_duplicate", "orb") == "a crop or part of the same picture"
    # Stored as a link, the count goes with it: the link says what the search said.
    stored = stored_algorithm("orb", inliers=12)
    assert witness(stored) == ("orb", False, 12)
    assert evidence_text(stored, 256) == "12 matching keypoints"
    assert link_label("near_duplicate", stored) == "a crop or part of the same picture"
    mirrored = stored_algorithm("orb", mirrored=True, inliers=30)
    assert evidence_text(mirrored, 256) == "30 matching keypoints (mirrored)"
    assert link_label("near_duplicate", mirrored) == "a mirrored or turned copy"
    assert link_confidence(mirrored, 256) == link_confidence("orb", 256)


def test_other_kinds_keep_their_names() -> None:
    assert match_name("exact", "sha256") == "the same file"
    assert match_name("near_duplicate", "pdq") == "a copy (re-encode, resize or edit)"
    assert match_name("near_duplicate", "frames", other=3, other_kind="video") == (
        "a copy (re-encode, resize or edit)"
    )
