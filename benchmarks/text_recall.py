"""Text recall: does `flask catalog import` read the text in pictures and videos well enough
for `flask catalog find` to bring each media back, by the words drawn, by another form of them
and by another script?

    python -m benchmarks.text_recall [--templates 3] [--distractors 10] [--videos 6] [--jobs 2]

The pictures' thresholds (catalog/text/regions.py, catalog/text/ocr.py) were tuned on the
tests' own pictures (tests/test_text_ocr.py: DejaVu Sans on a noisy gradient, a dark band).
This set is drawn apart from them: other fonts (DejaVu Serif, Mono, Condensed, bold and
italic), other layouts (a coloured chyron, a top banner, a small corner credit, a sign on a
tilted plate over a photograph from tests/data/photos, a screenshot of a post) and another
seed. Videos carry burnt-in subtitles (drawn into the frames) or a sidecar ``.srt``.

Every caption names someone or somewhere (Russian, Ukrainian or English) next to a word its
template has; a query is that name, exact, in another inflected form or in the other script
(Latin for a Cyrillic name, Cyrillic for a Latin one), with the template's word so that one
media answers. A hit counts if its media is in the top 3; a video hit also needs its time
within 1.5 s of when the text appears. Distractor queries (words no media has) should find
nothing. Misses are listed with what was drawn and what OCR read.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageFont

from tests.media import PHOTOS

ROOT = Path(__file__).resolve().parent.parent
FONTS = Path("/usr/share/fonts/truetype/dejavu")
# Not DejaVuSans.ttf and DejaVuSans-Bold.ttf alone, which the tests draw with. The italic and
# condensed faces are Debian's fonts-dejavu-extra, which `make` does not install (it installs
# fonts-dejavu-core): where they are missing the set is drawn with the core faces only.
FACES = [
    name
    for name in (
        "DejaVuSerif.ttf",
        "DejaVuSansMono-Bold.ttf",
        "DejaVuSansCondensed-Bold.ttf",
        "DejaVuSerif-BoldItalic.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSerifCondensed.ttf",
        "DejaVuSansMono.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSerif-Bold.ttf",
    )
    if (FONTS / name).is_file()
]
STYLES = ["chyron", "banner", "credit", "sign", "post"]
SEED = 2026
TOP = 3
VIDEO_SLACK_S = 1.5

# (nominative as drawn, another inflected form, the other script)
NAMES = {
    "rus": [
        ("Песков", "Пескова", "Peskov"),
        ("Пригожин", "Пригожина", "Prigozhin"),
        ("Харьков", "Харькова", "Kharkov"),
        ("Белгород", "Белгороде", "Belgorod"),
        ("Донецк", "Донецка", "Donetsk"),
        ("Навальный", "Навального", "Navalny"),
        ("Лавров", "Лаврову", "Lavrov"),
    ],
    "ukr": [
        ("Зеленський", "Зеленського", "Zelensky"),
        ("Київ", "Києві", "Kyiv"),
        ("Одеса", "Одесі", "Odesa"),
        ("Залужний", "Залужного", "Zaluzhny"),
        ("Бахмут", "Бахмута", "Bakhmut"),
        ("Буданов", "Буданова", "Budanov"),
        ("Харків", "Харкова", "Kharkiv"),
    ],
    "eng": [
        ("Peskov", "Peskov's", "Песков"),
        ("Zelensky", "Zelensky's", "Зеленский"),
        ("Belgorod", "Belgorod's", "Белгород"),
        ("Kadyrov", "Kadyrov's", "Кадыров"),
        ("Navalny", "Navalny's", "Навальный"),
        ("Prigozhin", "Prigozhin's", "Пригожин"),
        ("Lavrov", "Lavrov's", "Лавров"),
    ],
}
# (template, the word of it every query carries)
TEMPLATES = {
    "rus": [
        ("{}: новые удары по городу", "удары"),
        ("{}: переговоры сорваны", "переговоры"),
        ("{}: срочное заявление", "заявление"),
    ],
    "ukr": [
        ("{}: нові удари по місту", "удари"),
        ("{}: переговори зірвано", "переговори"),
        ("{}: термінова заява", "заява"),
    ],
    "eng": [
        ("{}: fresh strikes reported", "strikes"),
        ("{}: talks collapse", "talks"),
        ("{}: urgent statement", "statement"),
    ],
}
# Videos: (language, line, exact query, inflected query, other script query)
VIDEO_LINES = [
    ("rus", "Медведев пригрозил Европе", "Медведев Европе", "Медведева Европа", "Medvedev Европе"),
    ("ukr", "Кулеба зустрівся з Блінкеном", "Кулеба Блінкеном", "Кулеби Блінкеном", "Kuleba"),
    ("eng", "Blinken arrives in Warsaw", "Blinken Warsaw", "Blinken's Warsaw", "Блинкен"),
    ("rus", "Матвиенко открыла заседание", "Матвиенко заседание", "Матвиенко заседания",
     "Matviyenko"),
    ("ukr", "Шмигаль оголосив новий пакет", "Шмигаль пакет", "Шмигаля пакет", "Shmyhal"),
    ("eng", "Stoltenberg warns of escalation", "Stoltenberg escalation", "Stoltenberg warned",
     "Столтенберг"),
]  # fmt: skip
DISTRACTOR_QUERIES = [
    "Тбилиси",
    "Житомир переговори",
    "Kazakhstan",
    "Ереван заявление",
    "Lisbon statement",
    "Ужгород",
    "Вологда",
    "Montevideo",
]
CREDITS = ["AFP via Getty Images", "REUTERS/Stringer", "EPA-EFE", "AP Photo"]


@dataclass
class Case:
    """One media drawn, and the queries that should find it."""

    path: Path
    style: str
    language: str
    drawn: str
    queries: dict[str, str]
    appears: float | None = None  # video: seconds from the start
    how: str = ""  # the font, size and colours drawn with
    sha256: str = ""
    read: list[str] = field(default_factory=list)


def face(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def photo(rng: random.Random, width: int, height: int) -> Image.Image:
    """A crop of a sample photograph, tinted, at the size asked."""
    names = [p for p in sorted(PHOTOS.glob("*")) if p.suffix in (".png", ".jpg")]
    names = [p for p in names if p.name not in ("page.png", "text.png", "logo.png")]
    image = Image.open(rng.choice(names)).convert("RGB")
    w, h = image.size
    box = (rng.randint(0, w // 6), rng.randint(0, h // 6), w - rng.randint(0, w // 6), h)
    image = image.crop(box).resize((width, height), Image.Resampling.BICUBIC)
    tint = Image.new("RGB", image.size, tuple(rng.randint(0, 255) for _ in range(3)))
    return Image.blend(image, tint, 0.1)


def draw_picture(
    style: str, line: str, font_name: str, rng: random.Random
) -> tuple[Image.Image, str]:
    """A picture of ``line`` in ``style`` over a photograph, and how it was drawn."""
    width, height = rng.choice([(1280, 720), (1600, 900), (1200, 1200), (1080, 1350)])
    picture = photo(rng, width, height)
    how = f"{font_name.removesuffix('.ttf')}, {width}x{height}"
    draw = ImageDraw.Draw(picture)
    if style == "chyron":
        colour = rng.choice([(180, 20, 30), (10, 60, 140), (230, 180, 0), (20, 20, 20)])
        ink = "black" if colour[0] > 200 else "white"
        how += f", {ink} on {colour}, {height // 20} px"
        top = height - height // 6
        draw.rectangle((0, top, width, top + height // 10), fill=colour)
        draw.text(
            (width // 25, top + height // 80), line, font=face(font_name, height // 20), fill=ink
        )
    elif style == "banner":
        draw.rectangle((0, 0, width, height // 9), fill=(245, 245, 240))
        draw.text(
            (width // 30, height // 45), line, font=face(font_name, height // 18), fill=(10, 10, 10)
        )
    elif style == "credit":
        text = f"{line} · {rng.choice(CREDITS)}"
        size = max(16, height // 48)
        how += f", {size} px"
        box = draw.textbbox((0, 0), text, font=face(font_name, size))
        x, y = width - box[2] - 12, height - box[3] - 10
        draw.rectangle((x - 6, y - 4, x + box[2] + 6, y + box[3] + 6), fill=(0, 0, 0))
        draw.text((x, y), text, font=face(font_name, size), fill=(235, 235, 235))
    elif style == "sign":
        size = height // 16
        box = draw.textbbox((0, 0), line, font=face(font_name, size))
        colour = rng.choice([(250, 250, 245), (20, 90, 40), (30, 50, 140)])
        plate = Image.new("RGB", (int(box[2]) + 60, int(box[3]) + 50), colour)
        ink = "black" if colour[0] > 200 else "white"
        how += f", {ink} on {colour}, {size} px"
        ImageDraw.Draw(plate).text((30, 20), line, font=face(font_name, size), fill=ink)
        # A plate seen a little from the side: a perspective squeeze, then a slight turn.
        pw, ph = plate.size
        squeeze = rng.uniform(0.04, 0.1) * ph
        plate = plate.transform(
            plate.size,
            Image.Transform.QUAD,
            (0, 0, 0, ph, pw, ph - squeeze, pw, squeeze),
            Image.Resampling.BICUBIC,
        )
        plate = plate.rotate(
            rng.uniform(-6, 6), expand=True, resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0)
        )
        mask = plate.convert("L").point(lambda v: 255 if v > 0 else 0)
        x = rng.randint(0, max(0, width - plate.width))
        y = rng.randint(height // 8, max(height // 8, height - plate.height - height // 8))
        picture.paste(plate, (x, y), mask)
    elif style == "post":
        picture = Image.new("RGB", (width, height), (250, 250, 252))
        draw = ImageDraw.Draw(picture)
        small, big = face(font_name, height // 40), face(font_name, height // 26)
        draw.ellipse((30, 30, 110, 110), fill=(120, 150, 200))
        draw.text(
            (130, 40), f"Olena Koval @olena_k{rng.randint(10, 99)}", font=small, fill=(20, 20, 20)
        )
        draw.text((130, 80), f"{rng.randint(1, 23)} h", font=small, fill=(120, 120, 120))
        draw.text((40, 160), line, font=big, fill=(15, 15, 15))
        draw.text((40, 160 + height // 18), "#news #breaking", font=small, fill=(30, 90, 200))
        picture.paste(photo(rng, width - 80, height // 2), (40, height // 3))
    return picture, how


def video(
    path: Path,
    line: str | None,
    appears: float,
    font_name: str,
    rng: random.Random,
    seconds: float = 8.0,
    size: tuple[int, int] = (640, 360),
    fps: int = 10,
    style: str = "subtitle",
) -> None:
    """A clip panning over a photograph; ``line`` burnt in from ``appears`` to the end."""
    width, height = size
    background = np.asarray(photo(rng, width * 2, height))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        font = face(font_name, height // 14)
        for index in range(int(seconds * fps)):
            shift = index * width // int(seconds * fps)
            frame = Image.fromarray(np.ascontiguousarray(background[:, shift : shift + width]))
            if line is not None and index / fps >= appears:
                draw = ImageDraw.Draw(frame)
                box = draw.textbbox((0, 0), line, font=font)
                x, y = (width - box[2]) // 2, height - box[3] - height // 12
                if style == "chyron":
                    draw.rectangle((0, y - 8, width, y + box[3] + 8), fill=(180, 20, 30))
                    draw.text((x, y), line, font=font, fill="white")
                else:  # subtitles as players draw them: white with a black outline
                    draw.text(
                        (x, y), line, font=font, fill="white", stroke_width=2, stroke_fill="black"
                    )
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def build(
    folder: Path, templates: int, distractors: int, videos: int, seconds: float = 8.0
) -> list[Case]:
    """Draw the pictures, videos and distractors into ``folder``; return the cases."""
    rng = random.Random(SEED)
    cases = []
    number = 0
    for language, names in NAMES.items():
        for t, (template, word) in enumerate(TEMPLATES[language][:templates]):
            for name, other, script in names:
                style = STYLES[number % len(STYLES)]
                font_name = FACES[(number * 3 + t) % len(FACES)]
                line = template.format(name)
                path = folder / f"p{number:03d}-{style}.jpg"
                picture, how = draw_picture(style, line, font_name, rng)
                picture.save(path, quality=90)
                queries = {
                    "exact": f"{name} {word}",
                    "inflected": f"{other} {word}",
                    "other script": f"{script} {word}",
                }
                cases.append(Case(path, style, language, line, queries, how=how))
                number += 1
    for n, (language, line, exact, inflected, script) in enumerate(VIDEO_LINES[:videos]):
        appears = round(rng.uniform(1.5, 4.0) * seconds / 8, 1)
        path = folder / f"v{n}.mp4"
        if n % 2 == 0:
            video(path, line, appears, FACES[n % len(FACES)], rng, seconds)
            style = "burnt subtitles"
        else:
            video(path, None, appears, FACES[n % len(FACES)], rng, seconds)
            until = seconds
            stamp = lambda s: f"00:00:{int(s):02d},{int(s * 1000) % 1000:03d}"  # noqa: E731
            path.with_suffix(".srt").write_text(
                f"1\n{stamp(appears)} --> {stamp(until)}\n{line}\n", encoding="utf-8"
            )
            style = "sidecar .srt"
        queries = {"exact": exact, "inflected": inflected, "other script": script}
        how = f"{FACES[n % len(FACES)].removesuffix('.ttf')}, 640x360, white outlined in black"
        cases.append(Case(path, style, language, line, queries, appears, how))
    for n in range(distractors):
        photo(rng, 1600, 1200).save(folder / f"d{n:02d}.jpg", quality=90)
    for case in cases:
        case.sha256 = hashlib.sha256(case.path.read_bytes()).hexdigest()
    return cases


def import_folder(work: Path, folder: Path, jobs: int) -> tuple[float, str]:
    """`flask catalog import` of ``folder`` into a fresh SQLite catalogue under ``work``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env["CATALOG_INSTANCE_PATH"] = str(work / "instance")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "catalog"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run(
        [*flask, "import", "--jobs", str(jobs), str(folder)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, done.stdout.strip().splitlines()[-1]


def evaluate(
    work: Path, cases: list[Case]
) -> tuple[list[tuple[str, ...]], list[str], dict[str, list[int]]]:
    """Ask every query; return (misses, distractor answers, totals by style and kind)."""
    from catalog import create_app
    from catalog.db import database
    from catalog.models import Media, MediaText
    from catalog.services.text import find_text

    instance = work / "instance"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{instance / 'catalog.db'}",
            "MEDIA_ROOT": str(instance / "media"),
            "SECRET_KEY": "bench",
        }
    )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: list[tuple[str, ...]] = []
    false: list[str] = []
    with app.app_context(), database(app).sessions() as session:
        ids = {sha: id_ for sha, id_ in session.execute(sa.select(Media.sha256, Media.id))}
        for case in cases:
            media_id = ids.get(case.sha256)
            rows = session.scalars(sa.select(MediaText).where(MediaText.media_id == media_id)).all()
            case.read = [f"{r.text}" + (f" @{r.at:.1f}s" if r.at is not None else "") for r in rows]
            for kind, query in case.queries.items():
                found = find_text(session, query, limit=TOP)
                place = next((r for r in found if r.media.id == media_id), None)
                ok = place is not None
                why = "not in top 3" if media_id else "media not imported"
                if ok and case.appears is not None:
                    times = [h.at for h in place.hits if h.at is not None]  # type: ignore[union-attr]
                    ok = any(abs(t - case.appears) <= VIDEO_SLACK_S for t in times)
                    why = f"hit at {times}, text appears at {case.appears} s"
                for key in (case.style, kind, "all"):
                    totals[key][0] += ok
                    totals[key][1] += 1
                if not ok:
                    misses.append(
                        (
                            case.style,
                            kind,
                            query,
                            case.drawn,
                            case.how,
                            " / ".join(case.read) or "(nothing)",
                            why,
                        )
                    )
        for query in DISTRACTOR_QUERIES:
            found = find_text(session, query, limit=TOP)
            if found:
                false.append(
                    f"{query!r} -> " + "; ".join(h.text for r in found for h in r.hits[:1])
                )
    database(app).engine.dispose()
    return misses, false, totals


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def share(pair: list[int]) -> str:
    return f"{pair[0]}/{pair[1]} ({100 * pair[0] / max(1, pair[1]):.0f} %)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--templates", type=int, default=3, help="templates a language (x21 pictures)"
    )
    parser.add_argument("--names", type=int, default=7, help="names a language")
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--video-s", type=float, default=8.0, help="length of each video")
    parser.add_argument("--distractors", type=int, default=10, help="pictures without text")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-text-recall-"))
    try:
        folder = work / "media"
        folder.mkdir()
        saved = {k: list(v) for k, v in NAMES.items()}
        for language in NAMES:
            NAMES[language] = NAMES[language][: args.names]
        try:
            cases = build(folder, args.templates, args.distractors, args.videos, args.video_s)
        finally:
            NAMES.update(saved)
        seconds, summary = import_folder(work, folder, args.jobs)
        misses, false, totals = evaluate(work, cases)
        pictures = sum(c.appears is None for c in cases)
        print(
            f"Text recall: {pictures} pictures, {len(cases) - pictures} videos, "
            f"{args.distractors} pictures without text; import {seconds:.0f} s ({summary})"
        )
        print(f"Fonts: {', '.join(f.removesuffix('.ttf') for f in FACES)}\n")
        styles = [*STYLES, "burnt subtitles", "sidecar .srt"]
        print(
            table(
                ("style", "in top 3 (video: and within 1.5 s)"),
                [(s, share(totals[s])) for s in styles if totals[s][1]],
            )
        )
        print()
        kinds = ["exact", "inflected", "other script", "all"]
        print(table(("query", "in top 3 (goal ≥ 95 %)"), [(k, share(totals[k])) for k in kinds]))
        print()
        print(f"Distractor queries answered: {len(false)}/{len(DISTRACTOR_QUERIES)} (goal 0)")
        for line in false:
            print(f"  {line}")
        print(f"\nMisses ({len(misses)}):\n")
        if misses:
            print(
                table(
                    ("style", "query kind", "query", "drawn", "drawn with", "OCR read", "why"),
                    misses,
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
