"""The worked example the catalogue was made for: the claimed drone strike on the Kremlin of
3 May 2023, loaded with generated stand-in media (labelled as such in their titles).

What is recorded follows the public story in outline: the Russian government's statement
reported by the state agency TASS; RT airing the "column of smoke" clip with its claim that
electronic warfare brought the drones down (the one clip acknowledged, semi-officially);
the "blast in the sky" and "building burning" clips that no party acknowledged; a Telegram
post of the smoke clip deleted soon after it went up; Ukraine's government denying any part
in it; the wire photograph of a "No Drone Zone" sign credited to its photographer via AFP /
Getty Images. Times are illustrative. The pictures and clips are drawn here, not real footage.

Beside those, the parts of the story an analyst meets: a stand-in channel's repost of the smoke
clip, kept by a capture of its (drawn, never fetched) post page and matched to the original; a
still cut from the blast clip; a voice note cut from the burning clip's soundtrack (the clips
carry generated tones and chords, which sound fingerprints can tell apart).
"""

from __future__ import annotations

import functools
import io
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from sqlalchemy.orm import Session

from .capture.archive import Archive, package
from .hashing.audio import RATE
from .index import Thresholds
from .models import (
    Capture,
    CaptureMedia,
    CaptureStatus,
    Incident,
    LinkReview,
    Media,
    MediaLink,
    Party,
    PartyKind,
    Source,
    SourceKind,
    User,
)
from .netguard import Exchange
from .services.collection import CaptureSettings, create_capture, keep_loaded
from .services.media import IndexHolder, ingest_bytes
from .services.records import (
    AcknowledgementInput,
    IngestDetails,
    SightingInput,
    catalogue,
    editing,
    named,
)
from .storage import Store

INCIDENT = "Claimed drone strike on the Kremlin, 3 May 2023"
MSK = timezone(timedelta(hours=3))
RUSSIA = "Government of the Russian Federation"
UKRAINE = "Government of Ukraine"
SIZE = (480, 270)
FPS = 10


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _sky(top: tuple[int, int, int], bottom: tuple[int, int, int], seed: int) -> Image.Image:
    """A sky gradient with a little grain, so every clip has a texture of its own."""
    return _grained_sky(top, bottom, seed).copy()


@functools.lru_cache(maxsize=16)
def _grained_sky(top: tuple[int, int, int], bottom: tuple[int, int, int], seed: int) -> Image.Image:
    # Kept: a clip cycles through three skies, and drawing the grain is most of a frame's time.
    w, h = SIZE
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (np.array(top) * (1 - t) + np.array(bottom) * t) * np.ones((1, w, 1))
    grain = np.random.default_rng(seed).normal(0, 6, (h, w, 1))
    return Image.fromarray(np.clip(sky + grain, 0, 255).astype(np.uint8))


def _dome(
    draw: ImageDraw.ImageDraw, x: int, y: int, scale: float, colour: tuple[int, int, int]
) -> None:
    """The outline of a domed palace with a flagpole, as seen across the river."""
    s = scale
    draw.rectangle([x - 120 * s, y, x + 120 * s, y + 60 * s], fill=colour)
    draw.rectangle([x - 40 * s, y - 30 * s, x + 40 * s, y], fill=colour)
    draw.ellipse([x - 40 * s, y - 70 * s, x + 40 * s, y - 10 * s], fill=colour)
    draw.line([x, y - 70 * s, x, y - 110 * s], fill=colour, width=max(1, int(3 * s)))
    for i in range(-5, 6):
        draw.rectangle(
            [x + i * 20 * s - 5 * s, y + 15 * s, x + i * 20 * s + 5 * s, y + 35 * s],
            fill=(220, 200, 120),
        )


def _label(picture: Image.Image, text: str) -> Image.Image:
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, 0, SIZE[0], 18], fill=(0, 0, 0))
    draw.text((6, 2), f"STAND-IN · {text}", fill=(255, 255, 255), font=_font(12))
    return picture


@functools.lru_cache(maxsize=2)  # drawn once for the clip, its repost and the screenshot
def smoke_frames(count: int = 60) -> list[Image.Image]:
    """Daylight: the dome on the left, a column of smoke rising and leaning with the wind."""
    rng = np.random.default_rng(11)
    puffs = [(rng.uniform(-12, 12), rng.uniform(14, 34), rng.uniform(0.6, 1.0)) for _ in range(40)]
    frames = []
    for n in range(count):
        picture = _sky((110, 160, 215), (205, 220, 235), 100 + n % 3)
        draw = ImageDraw.Draw(picture, "RGBA")
        _dome(draw, 150, 170, 1.0, (60, 70, 60))
        for i, (dx, radius, shade) in enumerate(puffs):
            rise = (i * 6 + n * 2) % 190
            x, y = 300 + dx + rise * 0.35, 175 - rise
            grey = int(70 + 90 * shade)
            draw.ellipse(
                [x - radius, y - radius, x + radius, y + radius], fill=(grey, grey, grey, 170)
            )
        frames.append(_label(picture.filter(ImageFilter.SMOOTH), "column of smoke"))
    return frames


def blast_frames(count: int = 50) -> list[Image.Image]:
    """Night: a small dome far off, a flash bursting in the sky above it."""
    frames = []
    for n in range(count):
        picture = _sky((8, 10, 30), (40, 35, 60), 200 + n % 3)
        draw = ImageDraw.Draw(picture, "RGBA")
        for i in range(30):  # city lights along the bottom
            draw.rectangle(
                [i * 16 + 3, 240 + (i * 7) % 12, i * 16 + 9, 250 + (i * 7) % 12],
                fill=(250, 210, 120, 200),
            )
        _dome(draw, 330, 200, 0.55, (20, 20, 30))
        burst = max(0, n - 15)
        radius = min(90, burst * 9)
        if radius:
            glow = max(40, 255 - burst * 10)
            draw.ellipse(
                [330 - radius, 80 - radius, 330 + radius, 80 + radius], fill=(255, 230, 160, glow)
            )
            draw.ellipse(
                [330 - radius // 3, 80 - radius // 3, 330 + radius // 3, 80 + radius // 3],
                fill=(255, 255, 255, 255),
            )
        frames.append(_label(picture, "blast in the sky"))
    return frames


def burning_frames(count: int = 50) -> list[Image.Image]:
    """Close up: the roof of a building with flames and dark smoke, from street level."""
    rng = np.random.default_rng(33)
    frames = []
    for n in range(count):
        picture = _sky((150, 120, 100), (90, 70, 60), 300 + n % 3)
        draw = ImageDraw.Draw(picture, "RGBA")
        draw.polygon([(0, 270), (0, 150), (240, 90), (480, 150), (480, 270)], fill=(120, 100, 80))
        for k in range(12):
            draw.rectangle([20 + k * 38, 180, 40 + k * 38, 230], fill=(40, 40, 50))
        for k in range(25):
            x = 120 + rng.uniform(0, 240)
            height = 30 + 50 * abs(np.sin(n / 3 + k))
            draw.polygon(
                [(x - 14, 125), (x + 14, 125), (x, 125 - height)],
                fill=(255, int(120 + 100 * (k % 2)), 20, 210),
            )
        frames.append(_label(picture, "building burning"))
    return frames


def soundtrack(seconds: float, seed: int) -> np.ndarray:
    """Mono samples at the fingerprint's rate: a run of notes and chords with overtones over a
    little noise, each a fifth to half a second long (the chroma variety Chromaprint needs)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE), dtype=np.float64)
    start = 0
    while start < len(out):
        length = int(rng.uniform(0.2, 0.5) * RATE)
        t = np.arange(min(length, len(out) - start)) / RATE
        envelope = np.minimum(1, t / 0.02) * np.exp(-t * rng.uniform(1, 4))
        for step in rng.choice(24, size=int(rng.integers(1, 4)), replace=False):
            note = 196 * 2 ** (step / 12)
            for harmonic in (1, 2, 3):
                out[start : start + len(t)] += (
                    np.sin(2 * np.pi * note * harmonic * t) * envelope / harmonic
                )
        start += len(t)
    out += rng.normal(0, 0.02, len(out))
    return (out / max(1e-9, float(np.abs(out).max())) * 0.6).astype(np.float32)


def _sound_stream(container: av.container.OutputContainer) -> Any:
    """Add a mono AAC stream to an open output (before anything is muxed into it)."""
    stream = container.add_stream("aac", rate=44_100, layout="mono")
    stream.bit_rate = 128_000
    return stream


def _write_sound(container: av.container.OutputContainer, stream: Any, samples: np.ndarray) -> None:
    """Encode mono samples at RATE into an audio stream of an open output, and flush it."""
    resampler = av.AudioResampler(
        format=stream.codec_context.format.name,
        layout=stream.codec_context.layout.name,
        rate=stream.codec_context.sample_rate,
    )
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    # Fed a second at a time: one frame of a long recording is refused by the MP4 muxer.
    for start in range(0, len(pcm), RATE):
        frame = av.AudioFrame.from_ndarray(
            pcm[start : start + RATE].reshape(1, -1), format="s16", layout="mono"
        )
        frame.rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
        for out in resampler.resample(frame):
            for packet in stream.encode(out):
                container.mux(packet)
    for out in resampler.resample(None):
        for packet in stream.encode(out):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def encode_clip(
    frames: Iterable[Image.Image],
    crf: int = 23,
    size: tuple[int, int] = SIZE,
    fps: int = FPS,
    preset: str = "veryfast",
    sound: np.ndarray | None = None,
) -> bytes:
    """Encode pictures as an H.264 MP4 at ``fps`` frames a second, with ``sound`` (mono
    samples at RATE) as its soundtrack when given."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        stream.time_base = Fraction(1, fps)
        audio = _sound_stream(container) if sound is not None else None
        for picture in frames:
            for packet in stream.encode(
                av.VideoFrame.from_image(picture.convert("RGB").resize(size))
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None and sound is not None:
            _write_sound(container, audio, sound)
    return buffer.getvalue()


def encode_sound(samples: np.ndarray) -> bytes:
    """Encode mono samples at RATE as AAC in an M4A file, as a phone keeps a voice note."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        _write_sound(container, _sound_stream(container), samples)
    return buffer.getvalue()


def sign_photo() -> bytes:
    """A wire photograph stand-in: a 'No Drone Zone' sign before a red wall."""
    picture = _sky((170, 190, 210), (220, 225, 230), 400)
    draw = ImageDraw.Draw(picture)
    for row in range(6):
        for col in range(14):
            draw.rectangle(
                [
                    col * 36 + (row % 2) * 18,
                    150 + row * 20,
                    col * 36 + 30 + (row % 2) * 18,
                    166 + row * 20,
                ],
                fill=(150, 40, 35),
            )
    for k in range(12):
        draw.rectangle([k * 42, 128, k * 42 + 24, 150], fill=(150, 40, 35))
    draw.rectangle([180, 60, 330, 170], fill=(250, 250, 250), outline=(200, 0, 0), width=6)
    draw.ellipse([230, 72, 280, 122], outline=(200, 0, 0), width=5)
    draw.line([236, 78, 274, 116], fill=(200, 0, 0), width=5)
    draw.text((196, 128), "NO DRONE ZONE", fill=(20, 20, 20), font=_font(16))
    draw.rectangle([250, 170, 258, 270], fill=(90, 90, 90))
    picture = _label(picture, "wire photo")
    buffer = io.BytesIO()
    picture.resize((1200, 675), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


SMOKE_S, BLAST_S, BURNING_S = 6, 5, 16  # seconds of each clip (its frames at FPS)


def smoke_clip() -> bytes:
    """The column-of-smoke clip with its soundtrack."""
    return encode_clip(smoke_frames(SMOKE_S * FPS), sound=soundtrack(SMOKE_S, 1))


def blast_clip() -> bytes:
    """The blast-in-the-sky clip with its soundtrack."""
    return encode_clip(blast_frames(BLAST_S * FPS), sound=soundtrack(BLAST_S, 2))


def burning_clip() -> bytes:
    """The building-burning clip with its soundtrack, long enough to cut a sound excerpt from."""
    return encode_clip(burning_frames(BURNING_S * FPS), sound=soundtrack(BURNING_S, 3))


def reencoded_smoke_copy(crf: int = 33, size: tuple[int, int] = (320, 180)) -> bytes:
    """What a repost looks like: the smoke clip smaller and re-encoded harder."""
    return encode_clip(
        smoke_frames(SMOKE_S * FPS), crf=crf, size=size, sound=soundtrack(SMOKE_S, 1)
    )


def still_of(clip: bytes, at: float, caption: str) -> bytes:
    """The frame of ``clip`` at ``at`` seconds as a JPEG with a caption bar along its foot, as
    a still is cut from a video and shared."""
    with av.open(io.BytesIO(clip), mode="r") as container:
        stream = container.streams.video[0]
        frame = next(f for f in container.decode(stream) if (f.time or 0) >= at - 1e-6)
        picture = frame.to_image()
    draw = ImageDraw.Draw(picture)
    w, h = picture.size
    draw.rectangle([0, h - 22, w, h], fill=(200, 20, 20))
    draw.text((6, h - 19), caption, fill=(255, 255, 255), font=_font(14))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def sound_excerpt(start: float, seconds: float) -> bytes:
    """A recording cut from the building-burning clip's soundtrack, as an M4A voice note."""
    samples = soundtrack(BURNING_S, 3)
    return encode_sound(samples[int(start * RATE) : int((start + seconds) * RATE)])


@dataclass
class DemoResult:
    """What the demo loaded."""

    incident_id: int
    media: dict[str, int]


def _confirm_links(session: Session, ids: list[int], actor: User | None) -> None:
    """Confirm the matcher's links among the demo's own media, as the story's analyst did
    (each stand-in copy was made from its original here), so the incident reads as a
    published one would: a proposed link carries no facts into reports."""
    proposed = session.scalars(
        sa.select(MediaLink.id).where(
            MediaLink.source_media_id.in_(ids),
            MediaLink.target_media_id.in_(ids),
            MediaLink.review == LinkReview.PROPOSED,
        )
    ).all()
    for link_id in proposed:
        catalogue.review_link(
            session,
            link_id,
            "confirmed",
            actor,
            "Confirmed in the worked example: the stand-in was made from this original.",
        )


def load(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    *,
    actor: User | None,
    thresholds: Thresholds,
    max_pixels: int,
) -> DemoResult:
    """Load the scenario; loading it again adds nothing new."""
    when = lambda day, hh, mm: datetime(2023, 5, day, hh, mm, tzinfo=MSK)  # noqa: E731
    existing = {r.title: r for r in named.list_named(session, Incident)}
    if INCIDENT not in existing:
        named.create_named(
            session,
            Incident,
            {
                "title": INCIDENT,
                "occurred_on": date(2023, 5, 3),
                "place": "Moscow Kremlin, Senate Palace",
                "summary": "Two drones were said to have been brought down over the Kremlin"
                " in the early hours; the Russian government called it an attempt on the"
                " President's life, Ukraine denied involvement."
                " Demo data: the media are generated stand-ins.",
            },
            actor,
        )
    for name, kind, country in (
        (RUSSIA, PartyKind.GOVERNMENT, "Russia"),
        (UKRAINE, PartyKind.GOVERNMENT, "Ukraine"),
    ):
        if not any(p.name == name for p in named.list_named(session, Party)):
            named.create_named(
                session, Party, {"name": name, "kind": kind, "country": country}, actor
            )
    for name, source_kind, party in (
        ("TASS", SourceKind.STATE_MEDIA, RUSSIA),
        ("RT", SourceKind.STATE_MEDIA, RUSSIA),
        ("Moscow news Telegram channel", SourceKind.MESSAGING_CHANNEL, None),
        ("AFP / Getty Images", SourceKind.PHOTO_AGENCY, None),
    ):
        if not any(s.name == name for s in named.list_named(session, Source)):
            named.create_named(
                session,
                Source,
                {"name": name, "kind": source_kind, "affiliated_party": party},
                actor,
            )

    def add(make: Callable[[], bytes], name: str, details: IngestDetails) -> int:
        # Found by title: x264 need not give the same bytes twice, so a second load must not
        # rely on the SHA-256 to see that it has the clip already.
        held = session.scalar(sa.select(Media.id).where(Media.title == details.title))
        if held is not None:
            return held
        details.original_filename, details.incident = name, INCIDENT
        data = make()
        result = ingest_bytes(
            session,
            storage,
            holder,
            data,
            details,
            actor=actor,
            thresholds=thresholds,
            max_pixels=max_pixels,
        )
        return result.media.id

    media = {
        "smoke": add(
            smoke_clip,
            "column-of-smoke.mp4",
            IngestDetails(
                title="Column of smoke over the Senate dome (stand-in clip)",
                sighting=SightingInput(
                    url="https://t.me/moscow_news_demo/10452",
                    platform="telegram",
                    source="Moscow news Telegram channel",
                    posted_at=when(3, 14, 5),
                    deleted_at=when(3, 14, 20),
                    caption="Smoke over the Kremlin this night",
                ),
                acknowledgement=AcknowledgementInput(
                    party=RUSSIA,
                    status="semi_official",
                    source="RT",
                    stated_at=when(3, 16, 30),
                    statement="Aired by state broadcaster RT as the night's attack, with the"
                    " claim that the drones were disabled by electronic warfare.",
                ),
            ),
        ),
        "blast": add(
            blast_clip,
            "blast-in-the-sky.mp4",
            IngestDetails(
                title="Blast in the sky above the Kremlin (stand-in clip)",
                sighting=SightingInput(
                    url="https://x.com/demo_user/status/1653700000000000000",
                    platform="x",
                    posted_at=when(3, 15, 10),
                ),
                acknowledgement=AcknowledgementInput(
                    party=RUSSIA,
                    status="unacknowledged",
                    statement="Not referred to in any official statement.",
                ),
            ),
        ),
        "burning": add(
            burning_clip,
            "building-burning.mp4",
            IngestDetails(
                title="Building burning (stand-in clip)",
                sighting=SightingInput(
                    url="https://t.me/another_demo_channel/881",
                    platform="telegram",
                    posted_at=when(3, 15, 40),
                ),
                acknowledgement=AcknowledgementInput(
                    party=RUSSIA,
                    status="unacknowledged",
                    statement="Not referred to in any official statement.",
                ),
            ),
        ),
        "sign": add(
            sign_photo,
            "no-drone-zone.jpg",
            IngestDetails(
                title="“No Drone Zone” sign near the Kremlin (stand-in wire photo)",
                credit="Photographer / AFP via Getty Images",
                sighting=SightingInput(
                    url="https://www.gettyimages.com/detail/news-photo/demo",
                    platform="wire",
                    source="AFP / Getty Images",
                    posted_at=when(3, 18, 0),
                ),
            ),
        ),
    }
    # The still is cut from the clip as stored, so it is a frame the matcher can find in it.
    blast = session.get(Media, media["blast"])
    assert blast is not None
    media["still"] = add(
        lambda: still_of(_read(storage, blast.sha256), 3.0, "KREMLIN HIT? (stand-in)"),
        "blast-still.jpg",
        IngestDetails(
            title="Still of the blast in the sky, captioned (stand-in picture)",
            sighting=SightingInput(
                url="https://x.com/demo_reposter/status/1653700000000000001",
                platform="x",
                posted_at=when(3, 15, 25),
                caption="KREMLIN HIT?",
            ),
        ),
    )
    media["excerpt"] = add(
        lambda: sound_excerpt(3.0, 11.0),
        "voice-note.m4a",
        IngestDetails(
            title="Sound of the building burning, sent as a voice note (stand-in recording)",
            sighting=SightingInput(
                url="https://t.me/another_demo_channel/889",
                platform="telegram",
                posted_at=when(3, 16, 0),
            ),
        ),
    )
    media["repost"] = _capture_repost(
        session, storage, holder, actor, thresholds=thresholds, max_pixels=max_pixels
    )
    _confirm_links(session, list(media.values()), actor)
    incident = next(r for r in named.list_named(session, Incident) if r.title == INCIDENT)
    _, _, stances = named.incident_detail(session, incident.id)
    if not stances:
        editing.add_acknowledgement(
            session,
            AcknowledgementInput(
                party=RUSSIA,
                status="claimed",
                source="TASS",
                stated_at=when(3, 14, 0),
                statement="The Kremlin press service said two drones had targeted the Kremlin"
                " residence overnight and were disabled; it called it a planned terrorist act.",
            ),
            actor,
            incident_id=incident.id,
        )
        editing.add_acknowledgement(
            session,
            AcknowledgementInput(
                party=UKRAINE,
                status="denied_involvement",
                stated_at=when(3, 18, 30),
                statement="Ukraine's government said it had nothing to do with the attack.",
            ),
            actor,
            incident_id=incident.id,
        )
    return DemoResult(incident.id, media)


REPOST_URL = "https://t.me/s/demo_standin/27"
REPOST_MEDIA_URL = "https://cdn.demo-standin.invalid/demo_standin/27/smoke.mp4"
STAND_IN_PEER = "192.0.2.1"  # a documentation address (RFC 5737): no server was asked


def _read(storage: Store, sha256: str) -> bytes:
    with storage.open(sha256) as stored:
        return stored.read()


def post_page(caption: str) -> bytes:
    """The stand-in post page: the channel's name, the caption and the clip, as HTML."""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<title>STAND-IN · demo_standin</title>"
        '<meta property="og:title" content="STAND-IN · demo_standin">'
        f'<meta property="og:description" content="{caption}">'
        f'<meta property="og:video" content="{REPOST_MEDIA_URL}">'
        "</head><body><h1>demo_standin (stand-in channel)</h1>"
        f'<p>{caption}</p><video src="{REPOST_MEDIA_URL}" controls></video>'
        '<time datetime="2023-05-03T17:05:00+03:00">3 May 17:05</time></body></html>'
    ).encode()


def post_screenshot(caption: str) -> bytes:
    """A screenshot of the stand-in post page, drawn: the channel, the caption, the clip."""
    picture = Image.new("RGB", (560, 420), (230, 235, 240))
    draw = ImageDraw.Draw(picture)
    draw.rectangle([20, 20, 540, 400], fill=(255, 255, 255), outline=(200, 205, 210))
    draw.text((36, 32), "STAND-IN · demo_standin", fill=(40, 110, 170), font=_font(18))
    draw.text((36, 60), caption, fill=(20, 20, 20), font=_font(14))
    picture.paste(smoke_frames(1)[0], (40, 90))
    draw.text((36, 372), "3 May 2023, 17:05 · screenshot of a stand-in page", fill=(120, 120, 120))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def _exchange(url: str, content_type: str, body: bytes) -> Exchange:
    return Exchange(
        url=url,
        method="GET",
        request_headers=[("Host", url.split("/")[2])],
        request_body=b"",
        status=200,
        reason="OK",
        headers=[("Content-Type", content_type)],
        body=body,
        peer=STAND_IN_PEER,
    )


def _capture_repost(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    actor: User | None,
    *,
    thresholds: Thresholds,
    max_pixels: int,
) -> int:
    """Capture the stand-in post that reposted the smoke clip, as the capture service keeps a
    page: its screenshot and web archive stored, its clip ingested with a sighting citing it."""
    held = session.scalar(
        sa.select(Capture).where(Capture.url == REPOST_URL, Capture.status == CaptureStatus.DONE)
    )
    if held is None:
        capture = create_capture(session, REPOST_URL, incident=INCIDENT, actor=actor)
        caption = "Reposting the smoke over the Kremlin from this morning"
        clip = reencoded_smoke_copy(crf=30, size=(400, 224))
        with tempfile.TemporaryDirectory(prefix="demo-capture-", dir=storage.tmp) as name:
            folder = Path(name)
            page, shot = post_page(caption), post_screenshot(caption)
            archive = Archive(folder / "archive.warc.gz", REPOST_URL)
            archive.add(_exchange(REPOST_URL, "text/html; charset=utf-8", page))
            archive.add(_exchange(REPOST_MEDIA_URL, "video/mp4", clip))
            archive.add_resource(f"urn:screenshot:{REPOST_URL}", "image/png", shot)
            archive.close()
            notes = ["a stand-in page made by the demo, not fetched"]
            (folder / "screenshot.png").write_bytes(shot)
            (folder / "page.html").write_bytes(page)
            (folder / "media-1").write_bytes(clip)
            files = [
                package(folder, REPOST_URL, notes),
                {"role": "screenshot", "file": "screenshot.png"},
                {"role": "html", "file": "page.html"},
            ]
            result = {
                "url": REPOST_URL,
                "final_url": REPOST_URL,
                "status": 200,
                "files": files,
                "media": [
                    {"url": REPOST_MEDIA_URL, "file": "media-1", "content_type": "video/mp4"}
                ],
                "post": {
                    "platform": "telegram",
                    "account": "demo_standin",
                    "caption": caption,
                    "posted_at": "2023-05-03T17:05:00+03:00",
                },
                "notes": notes,
            }
            settings = CaptureSettings(
                allowed_hosts=[],
                max_bytes=50 * 1024 * 1024,
                timeout_s=30,
                attempts=1,
                use_browser=False,
                max_pixels=max_pixels,
                max_video_s=3 * 3600,
            )
            held = keep_loaded(
                session, storage, holder, capture.id, folder, result, settings, thresholds
            )
    media_id = session.scalar(
        sa.select(CaptureMedia.media_id).where(CaptureMedia.capture_id == held.id)
    )
    assert media_id is not None, held.notes
    title = "Column of smoke, reposted by a channel (stand-in clip, captured)"
    if session.scalar(sa.select(Media.title).where(Media.id == media_id)) != title:
        editing.update_media(session, media_id, {"title": title}, actor)
    return media_id


def write_copy(folder: Path) -> Path:
    """Write the re-encoded smoke clip an analyst uploads to try the catalogue."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "column-of-smoke-reposted.mp4"
    path.write_bytes(reencoded_smoke_copy())
    return path
