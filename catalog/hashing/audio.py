"""Audio fingerprints: a recording's sound as Chromaprint sees it, one 32-bit value every
0.124 s, and which of those values carry evidence.

The sound is decoded by PyAV (any container and codec FFmpeg reads: the audio track of a
video, MP3, M4A/AAC, Ogg/Opus, WAV, FLAC), mixed to mono at 11,025 Hz (Chromaprint's own
working rate) and fingerprinted by Chromaprint (``libchromaprint1`` through pyacoustid's
binding). Each value sums the chroma (the energy of the twelve pitch classes) around its
instant; two recordings of the same sound give values that differ in few bits, re-encoded,
louder or quieter, or with music laid under speech.

Silence and near-silence carry no evidence: every silent stretch fingerprints alike, so
values whose sound is quieter than ``QUIET_DBFS``, or that repeat unchanged (a held tone, a
hum), are marked uninformative; a recording with fewer than ``MIN_INFORMATIVE`` informative
values gets no fingerprint at all.

A query is fingerprinted several ways (``query_variants``): at four sub-item shifts, since
an excerpt rarely starts on the original's grid of instants, and at speeds 3 % and 1.5 %
either side, undoing a sped-up or slowed-down copy (pitch and tempo change together).

Pure: no Flask, no database.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from .views import Source, stream_of

RATE = 11_025
HOP = 4096 // 3  # samples between two values (Chromaprint's frame step at its rate)
ITEM_S = HOP / RATE  # 0.1238 s
# The sound one value sums: sixteen frames of 4096 samples, a HOP apart (2.2 s).
VALUE_SPAN_S = (15 * HOP + 4096) / RATE
# Quieter than this (dBFS, over a value's own frame) is silence: no evidence.
QUIET_DBFS = -55.0
# A recording needs this many informative values (about 3 s of sound) to be fingerprinted.
MIN_INFORMATIVE = 24
# The same value this many times in a row is a held tone or a hum: no evidence either.
STEADY_RUN = 4
# Speeds a query is also tried at (the copy played that much faster or slower, undone).
SPEEDS = (1.0, 0.97, 0.985, 1.015, 1.03)
SHIFTS_AT_SPEED = {1.0: 4}  # sub-item shifts per speed (2 for the others)


class AudioRejected(Exception):
    """A file whose sound cannot be read; ``code`` names the reason for programs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AudioPrint:
    """A recording's fingerprint: its values and which of them carry evidence."""

    values: np.ndarray  # uint32, one per ITEM_S
    informative: np.ndarray  # bool, as long as ``values``
    duration: float  # seconds of sound decoded

    @property
    def has_evidence(self) -> bool:
        """Whether enough of the sound is informative to be matched at all."""
        return int(self.informative.sum()) >= MIN_INFORMATIVE

    def to_bytes(self) -> bytes:
        """The values as stored: little-endian uint32, uninformative ones with the mask
        kept apart (``mask_bytes``)."""
        return self.values.astype("<u4").tobytes()

    def mask_bytes(self) -> bytes:
        """The informative mask, packed eight values a byte."""
        return np.packbits(self.informative).tobytes()

    @classmethod
    def from_bytes(cls, values: bytes, mask: bytes, duration: float) -> AudioPrint:
        """Read back what ``to_bytes`` and ``mask_bytes`` wrote."""
        items = np.frombuffer(values, dtype="<u4").astype(np.uint32)
        informative = np.unpackbits(np.frombuffer(mask, dtype=np.uint8))[: len(items)]
        return cls(items, informative.astype(bool), duration)


@dataclass(frozen=True)
class QueryVariant:
    """One way of reading a query: at ``speed`` (the query played that much faster to undo
    its change) and ``shift_s`` seconds into it."""

    speed: float
    shift_s: float
    print: AudioPrint


def decode_audio(data: Source, *, max_duration_s: float) -> np.ndarray | None:
    """Return the first audio track as mono float32 samples at RATE, or None when the file
    has no audio track; raise AudioRejected for a file that cannot be read or is too long."""
    try:
        container = av.open(stream_of(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioRejected(
            "not_audio", f"the file is not a recording we can read ({exc})"
        ) from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        limit = int(max_duration_s * RATE) + RATE
        chunks: list[np.ndarray] = []
        held = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    held += len(chunk)
                if held > limit:
                    raise AudioRejected(
                        "too_long",
                        f"the sound lasts more than the limit of {max_duration_s:.0f} s",
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            if not chunks:
                raise AudioRejected("corrupt", f"the sound cannot be decoded ({exc})") from None
            raise AudioRejected(
                "truncated", f"the sound is truncated or damaged ({exc.strerror or exc})"
            ) from None
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def fingerprint_samples(samples: np.ndarray) -> AudioPrint:
    """Fingerprint mono float samples at RATE (Chromaprint), marking silent and steady values."""
    import chromaprint  # pyacoustid's binding of libchromaprint

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    maker = chromaprint.Fingerprinter()
    maker.start(RATE, 1)
    maker.feed(pcm.tobytes())
    raw, _ = chromaprint.decode_fingerprint(maker.finish())
    values = np.asarray(raw, dtype=np.uint32)
    return AudioPrint(values, _informative(samples, values), len(samples) / RATE)


def _informative(samples: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which values carry evidence: their frame is not silent, and they do not repeat."""
    count = len(values)
    if count == 0:
        return np.zeros(0, dtype=bool)
    # A value sums roughly 16 frames from its own instant on; its loudness is theirs.
    span = HOP * 16 + 4096
    padded = np.concatenate([samples, np.zeros(span, dtype=np.float32)])
    energy = np.concatenate([[0.0], np.cumsum(padded.astype(np.float64) ** 2)])
    starts = np.arange(count) * HOP
    mean = (energy[starts + span] - energy[starts]) / span
    loud = 10 * np.log10(np.maximum(mean, 1e-12)) > QUIET_DBFS
    # Runs of one value: a held tone fingerprints the same instant after instant.
    change = np.concatenate([[True], values[1:] != values[:-1]])
    run_id = np.cumsum(change)
    run_length = np.bincount(run_id)[run_id]
    informative: np.ndarray = loud & (run_length < STEADY_RUN)
    return informative


def query_variants(samples: np.ndarray) -> list[QueryVariant]:
    """Fingerprint a query at every shift and speed it is tried at."""
    variants = []
    for speed in SPEEDS:
        played = _at_speed(samples, speed) if speed != 1.0 else samples
        shifts = SHIFTS_AT_SPEED.get(speed, 2)
        for n in range(shifts):
            skip = n * HOP // shifts
            variants.append(
                QueryVariant(speed, skip / RATE * speed, fingerprint_samples(played[skip:]))
            )
    return variants


def _at_speed(samples: np.ndarray, speed: float) -> np.ndarray:
    """Play ``samples`` ``speed`` times faster (pitch and tempo together, as a resampled copy)."""
    length = int(len(samples) / speed)
    where = np.arange(length, dtype=np.float64) * speed
    played: np.ndarray = np.interp(where, np.arange(len(samples)), samples).astype(np.float32)
    return played
