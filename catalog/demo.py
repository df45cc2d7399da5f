"""The worked example the catalogue was made for: the claimed drone strike on the Kremlin of
3 May 2023, loaded with generated stand-in media (labelled as such in their titles).

What is recorded follows the public story in outline: the Russian government's statement
reported by the state agency TASS; RT airing the "column of smoke" clip with its claim that
electronic warfare brought the drones down (the one clip acknowledged, semi-officially);
the "blast in the sky" and "building burning" clips that no party acknowledged; a Telegram
post of the smoke clip deleted soon after it went up; Ukraine's government denying any part
in it; the wire photograph of a "No Drone Zone" sign credited to its photographer via AFP /
Getty Images. Times are illustrative. The pictures and clips are drawn here, not real footage.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from sqlalchemy.orm import Session

from .index import Thresholds
from .models import Incident, Media, Party, PartyKind, Source, SourceKind, User
from .services.media import IndexHolder, ingest_bytes
from .services.records import AcknowledgementInput, IngestDetails, SightingInput, editing, named
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


def encode_clip(
    frames: Iterable[Image.Image],
    crf: int = 23,
    size: tuple[int, int] = SIZE,
    fps: int = FPS,
    preset: str = "veryfast",
) -> bytes:
    """Encode pictures as an H.264 MP4 at ``fps`` frames a second."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        stream.time_base = Fraction(1, fps)
        for picture in frames:
            for packet in stream.encode(
                av.VideoFrame.from_image(picture.convert("RGB").resize(size))
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
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


def reencoded_smoke_copy() -> bytes:
    """What a repost looks like: the smoke clip smaller and re-encoded harder."""
    return encode_clip(smoke_frames(), crf=33, size=(320, 180))


@dataclass
class DemoResult:
    """What the demo loaded."""

    incident_id: int
    media: dict[str, int]


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
            lambda: encode_clip(smoke_frames()),
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
            lambda: encode_clip(blast_frames()),
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
            lambda: encode_clip(burning_frames()),
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
    incident = next(r for r in named.list_named(session, Incident) if r.title == INCIDENT)
    _, _, stances = named.incident_detail(session, incident.id)
    if not stances:
        editing.add_acknowledgement(
            session,
            AcknowledgementInput(
                party=RUSSIA,
                status="official",
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
                status="denied",
                stated_at=when(3, 18, 30),
                statement="Ukraine's government said it had nothing to do with the attack.",
            ),
            actor,
            incident_id=incident.id,
        )
    return DemoResult(incident.id, media)


def write_copy(folder: Path) -> Path:
    """Write the re-encoded smoke clip an analyst uploads to try the catalogue."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "column-of-smoke-reposted.mp4"
    path.write_bytes(reencoded_smoke_copy())
    return path
