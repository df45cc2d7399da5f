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

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from .views import Source, head_of, sha256_of, size_of, stream_of

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
# A longer query is read at its own speed only, at two shifts: an hour's sound read twelve
# ways would take longer than reading its pictures.
ALL_VARIANTS_UP_TO_S = 600.0
# Containers of recordings accepted, by FFmpeg's name, with the type they are served as.
AUDIO_CONTAINERS = {
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "matroska,webm": "audio/webm",
    "aac": "audio/aac",
}
WAVEFORM_SIZE = (1200, 160)
# Containers whose header states the sound's length exactly (a cut file is told by it).
EXACT_LENGTH = {"flac", "wav", "mov", "ogg", "matroska"}


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


@dataclass
class AudioFileFingerprint:
    """What the catalogue keeps for a recording: its identity, container, length and sound."""

    sha256: str
    size: int
    duration: float
    mime_type: str
    metadata: dict[str, Any]
    print: AudioPrint
    waveform: bytes = field(repr=False, default=b"")
    variants: list[QueryVariant] = field(repr=False, default_factory=list)


@dataclass(frozen=True)
class QueryVariant:
    """One way of reading a query: at ``speed`` (the query played that much faster to undo
    its change) and ``shift_s`` seconds into it."""

    speed: float
    shift_s: float
    print: AudioPrint


def looks_like_audio(data: Source) -> bool:
    """Whether the file starts like an MP3, ADTS AAC, Ogg, FLAC or WAV recording (M4A starts
    like an MP4 video, and is told apart by its streams)."""
    head = head_of(data, 12)
    return (
        head[:3] == b"ID3"
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # an MPEG frame
        or head[:4] in (b"OggS", b"fLaC")
        or (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
    )


def _cover_art(stream: av.stream.Stream) -> bool:
    """Whether a video stream is a recording's attached picture (an album cover)."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def fingerprint_audio_file(data: Source, *, max_duration_s: float) -> AudioFileFingerprint:
    """Probe, decode and fingerprint a recording; raise AudioRejected with a reason."""
    sha256, size = sha256_of(data), size_of(data)
    head = head_of(data, 12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        # FFmpeg takes a WAV's length from the file as it is: its header says what it was
        # (unless it was written to a pipe, with a size of 0 or all ones: unknown).
        declared = int.from_bytes(head[4:8], "little") + 8
        if declared not in (8, 0xFFFFFFFF + 8) and size < declared:
            raise AudioRejected(
                "truncated",
                f"the recording is cut short: it holds {size} of the {declared} bytes its"
                " header declares",
            )
    try:
        container = av.open(stream_of(data), mode="r", metadata_errors="replace")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioRejected(
            "not_audio", f"the file is not a recording we can read ({exc})"
        ) from None
    with container:
        mime = AUDIO_CONTAINERS.get(container.format.name)
        if mime is None:
            raise AudioRejected(
                "unsupported_format", f"recordings in {container.format.long_name} are not accepted"
            )
        if not container.streams.audio:
            raise AudioRejected("no_audio_stream", "the file has no sound")
        if any(not _cover_art(v) for v in container.streams.video):
            # A video in a container of recordings (Ogg Theora or VP8): its pictures would go
            # unhashed, so it is not taken as a recording.
            raise AudioRejected(
                "unsupported_format", f"videos in {container.format.long_name} are not accepted"
            )
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            raise AudioRejected("unsupported_format", "the sound is in a codec we cannot read")
        exact = container.format.name.split(",")[0] in EXACT_LENGTH
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration and stream.time_base
            else (container.duration or 0) / 1_000_000
        )
        if duration > max_duration_s:
            raise AudioRejected(
                "too_long",
                f"the recording lasts {duration:.0f} s, more than the limit of"
                f" {max_duration_s:.0f} s",
            )
        tags = {k.lower(): str(v)[:200] for k, v in container.metadata.items()}
        metadata: dict[str, Any] = {
            "container": container.format.name.split(",")[0],
            "codec": stream.codec_context.name,
            "sample_rate": stream.codec_context.sample_rate,
            "channels": stream.codec_context.channels,
            **{
                k: tags[k]
                for k in ("title", "artist", "date", "creation_time", "encoder")
                if k in tags
            },
        }
    listened = listen(data, max_duration_s=max_duration_s)
    if listened is None or not len(listened.print.values) and not listened.print.duration:
        raise AudioRejected("no_audio_stream", "the file has no sound that can be decoded")
    heard = listened.print.duration
    metadata["duration"] = round(heard, 3)
    # Only where the header knows the length: MP3 and raw AAC estimate it from the bit rate.
    if exact and duration and heard + max(1.0, 0.02 * duration) < duration:
        raise AudioRejected(
            "truncated",
            f"the recording is cut short: it plays {heard:.1f} s of the {duration:.1f} s"
            " its header declares",
        )
    return AudioFileFingerprint(
        sha256, size, heard, mime, metadata, listened.print, listened.waveform, listened.variants
    )


def waveform_png(samples: np.ndarray, size: tuple[int, int] = WAVEFORM_SIZE) -> bytes:
    """A picture of the sound's loudness over time (the peak of each column), as PNG."""
    return waveform_from_peaks(np.abs(samples), size)


def waveform_from_peaks(levels: np.ndarray, size: tuple[int, int] = WAVEFORM_SIZE) -> bytes:
    """Draw the loudest of ``levels`` (peaks of the sound, in order) in each column, as PNG."""
    width, height = size
    picture = Image.new("RGB", size, (248, 249, 250))
    draw = ImageDraw.Draw(picture)
    middle = height // 2
    draw.line([(0, middle), (width, middle)], fill=(206, 212, 218))
    if len(levels):
        columns = np.array_split(levels, min(width, len(levels)))
        peaks = np.array([float(c.max()) if len(c) else 0.0 for c in columns])
        if len(peaks) < width:  # a short sound: stretch its columns across
            peaks = np.repeat(peaks, -(-width // len(peaks)))[:width]
        scale = max(1e-3, float(peaks.max()))
        for x, peak in enumerate(peaks):
            reach = int(peak / scale * (middle - 4))
            draw.line([(x, middle - reach), (x, middle + reach)], fill=(13, 110, 253))
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue()


def decode_audio(data: Source, *, max_duration_s: float) -> np.ndarray | None:
    """Return the first audio track as mono float32 samples at RATE, or None when the file
    has no audio track; raise AudioRejected for a file that cannot be read or is too long."""
    chunks: list[np.ndarray] = []
    if not _decode(data, max_duration_s, chunks.append):
        return None
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def _decode(data: Source, max_duration_s: float, sink: Callable[[np.ndarray], None]) -> bool:
    """Decode the first audio track to mono 16-bit samples at RATE, handing them to ``sink``
    a second at a time (a codec of tiny frames, Opus at 2.5 ms, must not cost a call per
    frame); False when the file has no audio track. Raise AudioRejected for sound that cannot
    be read or lasts longer than ``max_duration_s``."""
    try:
        container = av.open(stream_of(data), mode="r", metadata_errors="replace")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioRejected(
            "not_audio", f"the file is not a recording we can read ({exc})"
        ) from None
    with container:
        if not container.streams.audio:
            return False
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        limit = int(max_duration_s * RATE) + RATE
        waiting: list[np.ndarray] = []
        held = fed = 0
        try:
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    waiting.append(out.to_ndarray().reshape(-1))
                    held += len(waiting[-1])
                if held >= RATE:
                    sink(np.concatenate(waiting))
                    fed += held
                    waiting, held = [], 0
                if fed + held > limit:
                    raise AudioRejected(
                        "too_long", f"the sound lasts more than the limit of {max_duration_s:.0f} s"
                    )
            waiting += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
            if waiting:
                sink(np.concatenate(waiting))
        except av.FFmpegError as exc:
            if not fed + held:
                raise AudioRejected("corrupt", f"the sound cannot be decoded ({exc})") from None
            raise AudioRejected(
                "truncated", f"the sound is truncated or damaged ({exc.strerror or exc})"
            ) from None
    return True


def fingerprint_samples(samples: np.ndarray) -> AudioPrint:
    """Fingerprint mono float samples at RATE (Chromaprint), marking silent and steady values."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    listener = _Listener(keep_s=0.0)
    listener.feed(pcm)
    return listener.finish_print()


# Blocks of this many samples make the waveform's columns (peaks read as the sound passes).
PEAK_BLOCK = 256
# A value sums sixteen frames of 4096 samples a HOP apart: about this many HOPs of sound.
SPAN_HOPS = 15 + 4096 // HOP + 1


class _Listener:
    """Fingerprints sound as it is decoded, holding no more of it than it must: Chromaprint
    at the sound's own grid and half a value later, the energy of each HOP (for silence),
    the peak of each block (for the waveform), and the samples themselves only while the
    sound is short enough to be read at every speed (``ALL_VARIANTS_UP_TO_S``)."""

    def __init__(self, keep_s: float) -> None:
        import chromaprint  # pyacoustid's binding of libchromaprint

        self._chromaprint = chromaprint
        # The second reading, half a value later, is made only for a sound too long to be
        # read every way from its samples (started from them when they are let go).
        self.makers = [self._maker()]
        self.decode = chromaprint.decode_fingerprint
        self.count = 0
        self.keep = int(keep_s * RATE)
        self.kept: list[np.ndarray] | None = [] if keep_s > 0 else None
        self.energy: list[np.ndarray] = []
        self.peaks: list[np.ndarray] = []
        self._energy_tail = np.zeros(0, dtype=np.float64)
        self._peak_tail = np.zeros(0, dtype=np.int32)

    def _maker(self) -> Any:
        maker = self._chromaprint.Fingerprinter()
        maker.start(RATE, 1)
        return maker

    def feed(self, pcm: np.ndarray) -> None:
        """Take the next stretch of mono 16-bit samples at RATE."""
        self.makers[0].feed(pcm.tobytes())
        if len(self.makers) > 1:
            self.makers[1].feed(pcm.tobytes())
        self.count += len(pcm)
        if self.kept is not None:
            self.kept.append(pcm)
            if self.count > self.keep:  # too long to be read at every speed: let it go
                held, self.kept = np.concatenate(self.kept), None
                self.makers.append(self._maker())
                self.makers[1].feed(held[HOP // 2 :].tobytes())
        squares = np.concatenate([self._energy_tail, pcm.astype(np.float64) ** 2])
        whole = len(squares) // HOP * HOP
        self.energy.append(squares[:whole].reshape(-1, HOP).sum(axis=1) / 32768.0**2)
        self._energy_tail = squares[whole:]
        loud = np.concatenate([self._peak_tail, np.abs(pcm.astype(np.int32))])
        whole = len(loud) // PEAK_BLOCK * PEAK_BLOCK
        self.peaks.append(loud[:whole].reshape(-1, PEAK_BLOCK).max(axis=1))
        self._peak_tail = loud[whole:]

    def _values(self, n: int) -> np.ndarray:
        raw, _ = self.decode(self.makers[n].finish())
        return np.asarray(raw, dtype=np.uint32)

    def finish_print(self) -> AudioPrint:
        """The fingerprint of the sound at its own grid."""
        values = self._values(0)
        return AudioPrint(values, _informative(self._blocks(), values), self.count / RATE)

    def finish(self) -> Heard:
        """The fingerprint, the waveform, and the readings a search of this sound tries."""
        found = self.finish_print()
        blocks = self._blocks()
        peaks = np.concatenate([*self.peaks, [self._peak_tail.max(initial=0)]])
        waveform = waveform_from_peaks(peaks.astype(np.float32) / 32768.0)
        if not found.has_evidence:
            return Heard(found, waveform, [])
        if self.kept is not None:
            samples = np.concatenate(self.kept).astype(np.float32) / 32768.0
            return Heard(found, waveform, query_variants(samples, own=found))
        later = self._values(1)
        return Heard(
            found,
            waveform,
            [
                QueryVariant(1.0, 0.0, found),
                QueryVariant(
                    1.0,
                    (HOP // 2) / RATE,
                    AudioPrint(later, _informative(blocks, later), found.duration),
                ),
            ],
        )

    def _blocks(self) -> np.ndarray:
        tail = [self._energy_tail.sum() / 32768.0**2] if len(self._energy_tail) else []
        return np.concatenate([*self.energy, tail]) if self.energy or tail else np.zeros(0)


@dataclass
class Heard:
    """A sound as a search and the catalogue need it."""

    print: AudioPrint
    waveform: bytes
    variants: list[QueryVariant]


def _informative(blocks: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which values carry evidence: their sound is not silent (from the energy of each HOP
    of samples), and they do not repeat."""
    count = len(values)
    if count == 0:
        return np.zeros(0, dtype=bool)
    padded = np.concatenate([blocks, np.zeros(SPAN_HOPS + count, dtype=np.float64)])
    energy = np.concatenate([[0.0], np.cumsum(padded)])
    starts = np.arange(count)
    mean = (energy[starts + SPAN_HOPS] - energy[starts]) / (SPAN_HOPS * HOP)
    loud = 10 * np.log10(np.maximum(mean, 1e-12)) > QUIET_DBFS
    # Runs of one value: a held tone fingerprints the same instant after instant.
    change = np.concatenate([[True], values[1:] != values[:-1]])
    run_id = np.cumsum(change)
    run_length = np.bincount(run_id)[run_id]
    informative: np.ndarray = loud & (run_length < STEADY_RUN)
    return informative


def listen(data: Source, *, max_duration_s: float) -> Heard | None:
    """Decode a file's first audio track and fingerprint it as it goes; None when the file
    has no audio track. Raise AudioRejected for sound that cannot be read or lasts too long."""
    listener = _Listener(keep_s=ALL_VARIANTS_UP_TO_S)
    if not _decode(data, max_duration_s, listener.feed):
        return None
    return listener.finish()


def query_variants(samples: np.ndarray, own: AudioPrint | None = None) -> list[QueryVariant]:
    """Fingerprint a query at every shift and speed it is tried at (a long one at its own
    speed only); ``own``, its fingerprint made already, is not made again."""
    if len(samples) > ALL_VARIANTS_UP_TO_S * RATE:
        return [
            QueryVariant(1.0, skip / RATE, fingerprint_samples(samples[skip:]))
            for skip in (0, HOP // 2)
        ]
    variants = []
    for speed in SPEEDS:
        played = _at_speed(samples, speed) if speed != 1.0 else samples
        shifts = SHIFTS_AT_SPEED.get(speed, 2)
        for n in range(shifts):
            skip = n * HOP // shifts
            made = own if own is not None and speed == 1.0 and skip == 0 else None
            variants.append(
                QueryVariant(speed, skip / RATE * speed, made or fingerprint_samples(played[skip:]))
            )
    return variants


def _at_speed(samples: np.ndarray, speed: float) -> np.ndarray:
    """Play ``samples`` ``speed`` times faster (pitch and tempo together, as a resampled copy)."""
    length = int(len(samples) / speed)
    where = np.arange(length, dtype=np.float64) * speed
    played: np.ndarray = np.interp(where, np.arange(len(samples)), samples).astype(np.float32)
    return played
