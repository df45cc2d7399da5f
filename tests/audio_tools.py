"""Make test recordings: speech from Debian's espeak-ng, music-like tones, noise and silence,
mixed, sped up or slowed down, and encoded with PyAV (AAC, Opus, MP3, FLAC, WAV). No downloads:
every recording is generated, the same on every run."""

from __future__ import annotations

import functools
import io
import itertools
import random
import subprocess
from collections.abc import Iterable

import av
import numpy as np

from catalog.hashing.audio import RATE

SENTENCES = [
    "The convoy crossed the bridge at dawn and the smoke rose over the eastern district.",
    "Witnesses said the first explosion came shortly after six in the morning near the market.",
    "Officials have not confirmed the number of casualties, and the road remains closed tonight.",
    "A second video shows the same street from the roof of the school, filmed minutes later.",
    "We spoke to a driver who said he heard three loud bangs before the power went out.",
    "The ministry released a statement blaming the fire on an electrical fault in the depot.",
    "Rescue teams worked through the night to reach families trapped under the collapsed roof.",
    "Satellite pictures taken on Tuesday show scorch marks along the northern runway.",
]
# Said by no recording of ``recording``: for unrelated speech.
OTHER_SENTENCES = [
    "Farmers in the valley expect a late harvest after the cold and unusually wet spring.",
    "The orchestra will tour eleven cities this summer, opening with a concert by the lake.",
    "Our weather service warns of strong winds along the coast until Friday afternoon.",
]


def made_up_sentences(seed: int, count: int = 8, words: int = 14) -> list[str]:
    """Sentences of the words above in a random order: as many distinct texts as needed, so
    two recordings made from different seeds never say the same thing in the same voice."""
    rng = random.Random(seed)
    vocabulary = sorted(
        {w.strip(".,").lower() for s in SENTENCES + OTHER_SENTENCES for w in s.split()}
    )
    return [" ".join(rng.choices(vocabulary, k=words)).capitalize() + "." for _ in range(count)]


VOICES = ["en", "en-us", "en+f3", "en+m3", "en-gb-x-rp", "en+f2"]


@functools.lru_cache(maxsize=256)
def _said(text: str, voice: str, words_per_minute: int, pitch: int) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    with av.open(io.BytesIO(wav)) as container:
        return decoded(container)


def speech(
    text: str, voice: str = "en", words_per_minute: int = 160, pitch: int = 50
) -> np.ndarray:
    """Mono float samples at RATE of ``text`` spoken by espeak-ng."""
    return _said(text, voice, words_per_minute, pitch).copy()


def decoded(container: av.container.InputContainer) -> np.ndarray:
    """The first audio track of an open container as mono float samples at RATE."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks = []
    for frame in container.decode(container.streams.audio[0]):
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) / 32768


def music(seconds: float, seed: int) -> np.ndarray:
    """Music-like sound: a random melody of notes with overtones, half a second each."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    for i, note in enumerate(220 * 2 ** (rng.integers(0, 24, size=int(seconds * 2) + 1) / 12)):
        a, b = int(i * 0.5 * RATE), int((i + 1) * 0.5 * RATE)
        for harmonic in (1, 2, 3):
            out[a:b] += np.sin(2 * np.pi * note * harmonic * t[a:b]) / harmonic
    return (out / max(1e-9, float(np.abs(out).max())) * 0.5).astype(np.float32)


def recording(seconds: float, seed: int, sentences: list[str] = SENTENCES) -> np.ndarray:
    """A long recording: sentences in several voices, with music between some, and pauses."""
    rng = random.Random(seed)
    parts: list[np.ndarray] = []
    while sum(len(p) for p in parts) < seconds * RATE:
        parts.append(
            speech(
                rng.choice(sentences),
                rng.choice(VOICES),
                rng.randint(130, 190),
                rng.randint(30, 70),
            )
        )
        if rng.random() < 0.3:
            parts.append(music(rng.uniform(3, 8), rng.randrange(10_000)))
        parts.append(np.zeros(int(rng.uniform(0.2, 0.8) * RATE), dtype=np.float32))
    return np.concatenate(parts)[: int(seconds * RATE)]


def excerpt(samples: np.ndarray, start: float, seconds: float) -> np.ndarray:
    """``seconds`` of ``samples`` from ``start``."""
    return samples[int(start * RATE) : int((start + seconds) * RATE)].copy()


def under(speech_samples: np.ndarray, other: np.ndarray, db: float) -> np.ndarray:
    """``other`` laid under ``speech_samples``, ``db`` below its loudness."""
    other = np.resize(other, len(speech_samples))
    gain = np.sqrt((speech_samples**2).mean() / max(1e-12, float((other**2).mean())))
    return (speech_samples + other * gain * 10 ** (db / 20)).astype(np.float32)


def at_speed(samples: np.ndarray, speed: float) -> np.ndarray:
    """Played ``speed`` times faster (pitch and tempo together)."""
    length = int(len(samples) / speed)
    return np.interp(np.arange(length) * speed, np.arange(len(samples)), samples).astype(np.float32)


FORMATS = {  # codec: (container format, sample rate)
    "aac": ("mp4", 44_100),
    "libopus": ("ogg", 48_000),
    "libmp3lame": ("mp3", 44_100),
    "flac": ("flac", 44_100),
    "pcm_s16le": ("wav", 44_100),
}


def encode(samples: np.ndarray, codec: str = "aac", bit_rate: int = 64_000) -> bytes:
    """Encode mono samples as a file (AAC in M4A, Opus in Ogg, MP3, FLAC or WAV)."""
    container_format, rate = FORMATS[codec]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        write_sound(container, stream, samples)
    return buffer.getvalue()


def write_sound(container: av.container.OutputContainer, stream, samples: np.ndarray) -> None:  # noqa: ANN001
    """Encode mono samples at RATE into an audio stream of an open output (stereo streams
    get the same sound on both sides), and flush it."""
    frame = av.AudioFrame.from_ndarray(
        (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1),
        format="s16",
        layout="mono",
    )
    frame.rate = RATE
    resampler = av.AudioResampler(
        format=stream.codec_context.format.name,
        layout=stream.codec_context.layout.name,
        rate=stream.codec_context.sample_rate,
    )
    for out in [*resampler.resample(frame), *resampler.resample(None)]:
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def film(
    pictures: list[np.ndarray], samples: np.ndarray, fps: int = 10, audio_codec: str = "aac"
) -> bytes:
    """An MP4 of ``pictures`` (RGB arrays, shown in turn for the length of the sound) with
    ``samples`` as its soundtrack."""
    frames = int(len(samples) / RATE * fps)
    return film_frames(
        (
            pictures[min(len(pictures) - 1, n * len(pictures) // max(1, frames))]
            for n in range(frames)
        ),
        samples,
        fps=fps,
        audio_codec=audio_codec,
    )


def film_frames(
    frames: Iterable[np.ndarray],
    samples: np.ndarray,
    *,
    fps: int = 10,
    audio_codec: str = "aac",
    audio_bit_rate: int = 128_000,
    crf: int = 28,
) -> bytes:
    """An MP4 of ``frames`` (RGB arrays of one size, encoded as they come: a long clip is never
    held whole) at ``fps``, with ``samples`` as its soundtrack."""
    pictures = iter(frames)
    first = next(pictures, None)
    if first is None:
        raise ValueError("no frames")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.height, video.width = first.shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "crf": str(crf)}
        sound = container.add_stream(audio_codec, rate=44_100, layout="mono")
        sound.bit_rate = audio_bit_rate
        for picture in itertools.chain([first], pictures):
            for packet in video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        write_sound(container, sound, samples)
    return buffer.getvalue()
