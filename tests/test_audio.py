"""Audio fingerprints and their index: an excerpt is found inside a longer recording with its
offset, through re-encoding, volume and speed changes and music laid under the speech;
unrelated sound, silence and near-silence never match. Every recording is generated
(espeak-ng speech, tones, noise)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from catalog.hashing.audio import (
    RATE,
    AudioPrint,
    AudioRejected,
    decode_audio,
    fingerprint_samples,
    query_variants,
)
from catalog.index.audio import AudioIndex, AudioMatch

from .audio_tools import (
    OTHER_SENTENCES,
    at_speed,
    encode,
    excerpt,
    music,
    recording,
    speech,
    under,
)
from .video_tools import clip

ORIGINAL = 1
START, LENGTH = 100.0, 15.0


@pytest.fixture(scope="module")
def long_recording() -> np.ndarray:
    return recording(300, seed=1)


@pytest.fixture(scope="module")
def index(long_recording: np.ndarray) -> AudioIndex:
    built = AudioIndex()
    assert built.add(ORIGINAL, fingerprint_samples(long_recording))
    for n in range(12):  # unrelated talk and music: none of the original's sentences
        other = recording(60, seed=100 + n, sentences=OTHER_SENTENCES)
        assert built.add(100 + n, fingerprint_samples(other))
    return built


def found(index: AudioIndex, samples: np.ndarray) -> list[AudioMatch]:
    return index.search(query_variants(samples))


def assert_placed(match: AudioMatch, query_start: float = 0.0, match_start: float = START) -> None:
    """The excerpt is placed at its time in the original (within a value or so)."""
    first, last = match.segments[0], match.segments[-1]
    assert first.query_start == pytest.approx(query_start, abs=1.0)
    assert first.match_start == pytest.approx(match_start, abs=1.0)
    assert last.match_end - first.match_start == pytest.approx(LENGTH, abs=2.5)
    assert match.offset_s == pytest.approx(match_start - query_start, abs=1.0)


TRANSFORMS = {
    "excerpt": lambda x: x,
    "aac 64 kbit/s": lambda x: decode(encode(x, "aac")),
    "opus 64 kbit/s": lambda x: decode(encode(x, "libopus")),
    "mp3": lambda x: decode(encode(x, "libmp3lame")),
    "10 dB quieter": lambda x: x * 0.316,
    "6 dB louder, clipped": lambda x: np.clip(x * 2, -1, 1),
    "3 % faster": lambda x: at_speed(x, 1.03),
    "3 % slower": lambda x: at_speed(x, 0.97),
    "music under at -12 dB": lambda x: under(x, music(LENGTH, 999), -12),
    "music under, then aac": lambda x: decode(encode(under(x, music(LENGTH, 998), -12), "aac")),
    "3 % faster, then opus": lambda x: decode(encode(at_speed(x, 1.03), "libopus")),
}


def decode(data: bytes) -> np.ndarray:
    samples = decode_audio(data, max_duration_s=3600)
    assert samples is not None
    return samples


@pytest.mark.parametrize("change", list(TRANSFORMS), ids=list(TRANSFORMS))
def test_an_excerpt_is_found_in_the_original_with_its_offset(
    index: AudioIndex, long_recording: np.ndarray, change: str
) -> None:
    query = TRANSFORMS[change](excerpt(long_recording, START, LENGTH))
    matches = found(index, query)
    assert [m.recording_id for m in matches] == [ORIGINAL], matches  # and nothing unrelated
    [match] = matches
    assert_placed(match)
    assert match.query_coverage >= 0.75 and match.ber < 0.2
    assert match.match_coverage == pytest.approx(LENGTH / 300, abs=0.03)
    if "faster" in change:
        assert match.speed == pytest.approx(0.97, abs=0.016)


def test_the_original_is_found_from_its_excerpt_too(long_recording: np.ndarray) -> None:
    short = AudioIndex()
    assert short.add(7, fingerprint_samples(excerpt(long_recording, START, LENGTH)))
    [match] = found(short, long_recording)
    assert_placed(match, query_start=START, match_start=0.0)
    assert match.match_coverage >= 0.8 and match.query_coverage < 0.1


@pytest.mark.parametrize(
    "sound",
    ["unrelated speech", "music", "noise", "silence", "hum"],
)
def test_unrelated_sound_silence_and_noise_never_match(index: AudioIndex, sound: str) -> None:
    seconds = int(LENGTH * RATE)
    samples = {
        "unrelated speech": lambda: np.concatenate(
            [speech(s, "en+f3", 150, 40) for s in ("Good evening and welcome.", *OTHER_SENTENCES)]
        )[:seconds],
        "music": lambda: music(LENGTH, 4242),
        "noise": lambda: np.random.default_rng(3).normal(0, 0.05, seconds).astype(np.float32),
        "silence": lambda: np.zeros(seconds, dtype=np.float32),
        "hum": lambda: (0.3 * np.sin(2 * np.pi * 50 * np.arange(seconds) / RATE)).astype(
            np.float32
        ),
    }[sound]()
    assert [m.recording_id for m in found(index, samples) if m.recording_id == ORIGINAL] == []


def test_silence_and_near_silence_carry_no_evidence() -> None:
    silent = fingerprint_samples(np.zeros(30 * RATE, dtype=np.float32))
    assert not silent.has_evidence
    hiss = np.random.default_rng(5).normal(0, 0.001, 30 * RATE).astype(np.float32)  # -60 dBFS
    assert not fingerprint_samples(hiss).has_evidence
    empty = AudioIndex()
    assert not empty.add(1, silent) and len(empty) == 0
    # Speech with long silences: only its spoken part is informative.
    spoken = speech(OTHER_SENTENCES[0])
    padded = np.concatenate(
        [np.zeros(10 * RATE, np.float32), spoken, np.zeros(10 * RATE, np.float32)]
    )
    print_ = fingerprint_samples(padded)
    share = print_.informative.mean()
    assert print_.has_evidence and share < (len(spoken) / RATE + 3) / (len(padded) / RATE)


def test_a_fingerprint_is_stored_and_read_back() -> None:
    made = fingerprint_samples(recording(20, seed=4))
    again = AudioPrint.from_bytes(made.to_bytes(), made.mask_bytes(), made.duration)
    assert np.array_equal(again.values, made.values)
    assert np.array_equal(again.informative, made.informative)


def test_removed_recordings_are_not_found(long_recording: np.ndarray) -> None:
    built = AudioIndex()
    built.add(5, fingerprint_samples(long_recording))
    built.remove(5)
    assert found(built, excerpt(long_recording, START, LENGTH)) == [] and len(built) == 0


def test_a_saved_sound_index_mapped_back_answers_as_before_and_takes_more(
    index: AudioIndex, long_recording: np.ndarray, tmp_path: Path
) -> None:
    # What a snapshot holds: every worker maps it instead of reading the recordings again.
    index.save(tmp_path)
    mapped = AudioIndex()
    assert mapped.open_base(tmp_path) and len(mapped) == len(index) == 13
    assert mapped.recordings_in_memory == 0
    query = excerpt(long_recording, START, LENGTH)
    before, after = found(index, query), found(mapped, query)
    assert [(m.recording_id, m.offset_s, m.query_coverage) for m in after] == [
        (m.recording_id, m.offset_s, m.query_coverage) for m in before
    ]
    assert isinstance(mapped._base.values, np.memmap)  # mapped, not read into memory
    # A recording added past the snapshot is found beside those in it.
    newer = recording(120, seed=7)
    assert mapped.add(200, fingerprint_samples(newer)) and len(mapped) == 14
    assert found(mapped, excerpt(newer, 30.0, LENGTH))[0].recording_id == 200
    # A mapped recording removed is not found; one added again under its id is found only
    # where its new sound is.
    mapped.remove(ORIGINAL)
    assert found(mapped, query) == [] and len(mapped) == 13
    mapped.add(ORIGINAL, fingerprint_samples(newer))
    assert found(mapped, query) == []
    assert {m.recording_id for m in found(mapped, excerpt(newer, 30.0, LENGTH))} == {200, ORIGINAL}
    # Saved again, the mapped and the added come together.
    again = tmp_path / "again"
    again.mkdir()
    mapped.save(again)
    reopened = AudioIndex()
    assert reopened.open_base(again) and len(reopened) == 14
    assert found(reopened, query) == []


def test_a_snapshot_without_sound_maps_nothing(tmp_path: Path) -> None:
    assert not AudioIndex().open_base(tmp_path)


@pytest.mark.parametrize("codec", ["aac", "libopus", "libmp3lame", "flac", "pcm_s16le"])
def test_recordings_in_every_format_are_decoded(codec: str) -> None:
    samples = decode(encode(recording(8, seed=2), codec))
    assert len(samples) / RATE == pytest.approx(8, abs=0.1)


def test_files_without_sound_or_beyond_the_limits_are_told_apart() -> None:
    assert decode_audio(clip("test-padded-dimensions.mp4"), max_duration_s=3600) is None
    with pytest.raises(AudioRejected) as refused:
        decode_audio(b"\x00\x00\x00\x18ftypmp42" + bytes(500), max_duration_s=3600)
    assert refused.value.code == "not_audio"
    with pytest.raises(AudioRejected) as too_long:
        decode_audio(encode(recording(12, seed=2), "flac"), max_duration_s=5)
    assert too_long.value.code == "too_long"


def test_the_large_logo_clip_matches_its_source_by_sound() -> None:
    """The ThreatExchange pair that frame hashes miss: the soundtrack is the same."""
    names = ["chair-19-sd-bar.mp4", "chair-22-with-large-logo-bar.mp4"]
    prints = [fingerprint_samples(decode(clip(name))) for name in names]
    built = AudioIndex()
    assert built.add(19, prints[0])
    [match] = built.search(query_variants(decode(clip(names[1]))))
    assert match.recording_id == 19 and match.query_coverage >= 0.75
    assert match.offset_s == pytest.approx(-3.6, abs=0.5)


def test_an_hour_of_sound_is_fingerprinted_in_little_memory(tmp_path) -> None:  # noqa: ANN001
    """Sound is fingerprinted as it is decoded: an hour (159 MB as samples) costs a few MB."""
    import subprocess
    import sys
    import textwrap

    from .audio_tools import FORMATS

    path = tmp_path / "hour.ogg"
    container_format, rate = FORMATS["libopus"]
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("libopus", rate=rate, layout="mono")
        stream.bit_rate = 24_000
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=rate
        )
        for minute in range(60):
            chunk = music(60, seed=minute)
            frame = av.AudioFrame.from_ndarray(
                (chunk * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.rate = RATE
            for out in resampler.resample(frame):
                for packet in stream.encode(out):
                    container.mux(packet)
        for out in resampler.resample(None):
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    script = textwrap.dedent(
        f"""
        import resource
        from catalog.hashing.audio import fingerprint_audio_file
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        found = fingerprint_audio_file(open({str(path)!r}, "rb"), max_duration_s=4000)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(round(found.duration), len(found.variants), (after - before) // 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    seconds, variants, grew_mb = (int(v) for v in out.stdout.split())
    assert seconds == pytest.approx(3600, abs=2)
    assert variants == 2  # an hour is read at its own speed only
    assert grew_mb < 60, out.stdout
