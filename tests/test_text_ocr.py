"""Reading text in pictures and videos (catalog.text.ocr, regions, video_ocr): English,
Russian and Ukrainian lines with boxes in the picture's own pixels, the cheap path for
pictures without text (Tesseract never called), the time limit's note, and video lines
placed in time. Every picture and video is drawn here, with Debian's DejaVu fonts."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from catalog.text import ocr, regions
from catalog.text.video_ocr import read_video

FONTS = "/usr/share/fonts/truetype/dejavu/"


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONTS + ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"), size)


def noisy_gradient(width: int, height: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 200, width)[None, :, None] * np.ones((height, 1, 3))
    return (base + rng.normal(0, 10, (height, width, 3))).clip(0, 255).astype(np.uint8)


def chyron(width: int, height: int, line: str, seed: int = 1) -> Image.Image:
    """A news frame: a noisy gradient with a dark band near the bottom, white letters on it."""
    picture = Image.fromarray(noisy_gradient(width, height, seed))
    draw = ImageDraw.Draw(picture)
    band = height - height // 5
    draw.rectangle((0, band, width, band + height // 8), fill=(20, 30, 120))
    draw.text((width // 30, band + height // 60), line, font=font(height // 16), fill="white")
    return picture


def foliage(width: int, height: int) -> Image.Image:
    """Leaves: thousands of overlapping ellipses of every green, the texture that fools a
    naive edge test into seeing text everywhere."""
    rng = np.random.default_rng(7)
    picture = Image.new("RGB", (width, height), (60, 90, 50))
    draw = ImageDraw.Draw(picture)
    for _ in range(width * height // 20):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r, g = int(rng.integers(3, 12)), int(rng.integers(40, 220))
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=(g // 3, g, g // 4))
    return picture


def clouds(width: int, height: int) -> Image.Image:
    """Smooth noise at several scales, tinted like a sky, with sensor noise."""
    rng = np.random.default_rng(3)
    sky = np.zeros((height, width), np.float32)
    for cells in (4, 8, 16, 32, 64):
        layer = rng.random((cells, cells * width // height)).astype(np.float32)
        sky += cv2.resize(layer, (width, height), interpolation=cv2.INTER_CUBIC) * (64 / cells)
    sky = (sky - sky.min()) / (sky.max() - sky.min()) * 255
    rgb = np.stack([sky, sky * 0.8 + 30, 255 - sky * 0.5], -1) + rng.normal(
        0, 6, (height, width, 3)
    )
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8))


def test_reads_english_russian_and_ukrainian_lines_with_their_boxes() -> None:
    page = Image.new("RGB", (900, 260), "white")
    draw = ImageDraw.Draw(page)
    lines = ["Drone strike on the Kremlin", "Песков: Кремль не знал", "Київ мовчить"]
    drawn = []
    for number, line in enumerate(lines):
        at = (30, 30 + 70 * number)
        draw.text(at, line, font=font(32), fill="black")
        drawn.append(draw.textbbox(at, line, font=font(32)))
    reading = ocr.read_picture(page)
    assert [span.text for span in reading.spans] == lines, reading
    assert [span.lang for span in reading.spans] == ["eng", "rus", "ukr"]
    for span, (left, top, right, bottom) in zip(reading.spans, drawn, strict=True):
        assert span.field == "ocr" and span.source == "tesseract" and span.confidence
        x, y, w, h = span.box or (0, 0, 0, 0)
        assert abs(x - left) <= 6 and abs(y - top) <= 10 and abs(x + w - right) <= 6
        assert abs(y + h - bottom) <= 10


def test_a_chyron_on_a_large_frame_is_read_with_its_box_in_the_frames_pixels() -> None:
    frame = chyron(1920, 1080, "Песков: Кремль не знал")  # detected at 1000 px, read at full
    reading = ocr.read_picture(np.asarray(frame))
    assert [span.text for span in reading.spans] == ["Песков: Кремль не знал"], reading
    x, y, w, h = reading.spans[0].box or (0, 0, 0, 0)
    band = 1080 - 1080 // 5
    assert 50 <= x <= 80 and band < y < band + 1080 // 8 and 600 < w < 1000 and 40 < h < 90


def test_pictures_without_text_take_the_cheap_path() -> None:
    before = ocr.calls["recognize"]
    for picture in (
        foliage(1200, 900),
        clouds(1600, 1200),
        Image.fromarray(noisy_gradient(800, 600)),
    ):
        assert ocr.read_picture(picture).spans == []
    assert ocr.calls["recognize"] == before  # Tesseract was never asked
    # The counter does count: a picture with text calls it.
    ocr.read_picture(chyron(640, 360, "Kremlin"))
    assert ocr.calls["recognize"] > before


def test_the_ocr_area_is_bounded_whatever_passes_the_test() -> None:
    # Many short words scattered over a busy picture: none of them makes a page of text, so
    # together they are read only up to the area budget and the block count.
    picture = Image.fromarray(noisy_gradient(1000, 1000, seed=5))
    draw = ImageDraw.Draw(picture)
    rng = np.random.default_rng(2)
    for _ in range(120):
        x, y = int(rng.integers(0, 900)), int(rng.integers(0, 960))
        draw.text((x, y), "KYIV", font=font(int(rng.integers(14, 30))), fill="black")
    found, _, _ = regions.text_regions(np.asarray(picture.convert("L")))
    strong = [r for r in found if r.lines >= regions.STRONG_LINES]
    weak_area = sum(r.w * r.h for r in found if r not in strong)
    assert len(found) <= regions.MAX_REGIONS
    assert weak_area <= regions.MAX_OCR_SHARE * 1000 * 1000 * 1.05


def dense_page() -> Image.Image:
    """A page of small random letters: long for Tesseract to read, line after line."""
    rng = np.random.default_rng(3)
    page = Image.new("L", (1000, 1000), 255)
    draw = ImageDraw.Draw(page)
    letters = list("абвгдежзийклмнопрстуфхцчшщэюяabcdefghijklmnopqrstuvwxyz   ")
    for y in range(5, 990, 16):
        draw.text((5, y), "".join(rng.choice(letters, 150)), font=font(12), fill=0)
    return page


def test_a_picture_too_slow_to_read_ends_with_a_note() -> None:
    reading = ocr.read_picture(dense_page(), time_limit_s=0.3)
    assert reading.notes and reading.notes[0].startswith("text not read: time limit of 0.3 s")


def test_latin_and_cyrillic_lookalikes_are_written_in_the_lines_script() -> None:
    assert ocr.one_script(["Київ,", "З", "Мау", "2023", "breaking", "news"]) == [
        "Київ,",
        "3",
        "May",
        "2023",
        "breaking",
        "news",
    ]
    # A bold "н" reads as "H": lowered mid-sentence, kept after a full stop.
    assert ocr.one_script(["Кремль", "He", "знал"]) == ["Кремль", "не", "знал"]
    assert ocr.one_script(["Кремль.", "He", "знал"])[1] == "Не"
    assert ocr.one_script(["Kиїв", "3", "мая"]) == ["Київ", "3", "мая"]


def test_the_language_data_are_found_or_their_absence_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # empty: Debian's folder is used
    assert ocr.tessdata_path("eng+ukr").endswith("tessdata")
    with pytest.raises(ocr.OcrUnavailable, match="xyz"):
        ocr.tessdata_path("eng+xyz")


def video_with_text(seconds: float = 8.0, fps: int = 10) -> bytes:
    """A 640x360 clip: a chyron from 2.4 s to 5.3 s, a title from 4.6 s to the end."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        background = noisy_gradient(640, 360)
        for index in range(int(seconds * fps)):
            at = index / fps
            picture = Image.fromarray(np.roll(background, index * 3, axis=1))
            draw = ImageDraw.Draw(picture)
            if 2.4 <= at < 5.3:
                draw.rectangle((0, 280, 640, 330), fill=(200, 20, 20))
                draw.text((20, 285), "Песков: Кремль не знал", font=font(30, True), fill="white")
            if at >= 4.6:
                draw.rectangle((0, 20, 300, 70), fill=(250, 250, 250))
                draw.text((15, 28), "Київ LIVE", font=font(30, True), fill="black")
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def test_video_lines_are_placed_in_time_and_read_once_while_unchanged(tmp_path: object) -> None:
    data = video_with_text()
    before = ocr.calls["recognize"]
    reading = read_video(io.BytesIO(data))
    calls = ocr.calls["recognize"] - before
    texts = {span.text: span for span in reading.spans}
    assert set(texts) == {"Песков: Кремль не знал", "Київ LIVE"}, reading
    chyron_span, title = texts["Песков: Кремль не знал"], texts["Київ LIVE"]
    assert chyron_span.at is not None and title.at is not None
    assert 2.4 <= chyron_span.at <= 2.4 + 1.5 and 5.3 <= (chyron_span.until or 0) <= 5.3 + 1.5
    assert 4.6 <= title.at <= 4.6 + 1.5 and title.until == pytest.approx(8.0, abs=1.1)
    assert chyron_span.box and chyron_span.box[1] > 270 and title.box and title.box[1] < 80
    # Eight samples with text, but the text area changed only three times (chyron, title
    # added, chyron gone): Tesseract read no more than those.
    assert 1 <= calls <= 3 * 2
    assert reading.notes == []


def test_a_video_is_read_from_a_path_and_a_non_video_is_noted(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "clip.mp4").write_bytes(video_with_text(seconds=4.0))
    reading = read_video(folder / "clip.mp4")
    assert [span.text for span in reading.spans] == ["Песков: Кремль не знал"]
    assert read_video(b"not a video at all").notes == [
        "text not read: not a video that can be opened"
    ]
