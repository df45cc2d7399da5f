"""Make the forms in which pictures circulate, from an original: re-encoded, resized,
recoloured, captioned, stamped with a logo, boxed, mirrored, rotated, tilted (re-photographed
from a screen), cropped, and embedded in a social-media screenshot.

Deterministic for a given seed, so benchmark figures and tests are repeatable. Used by
``benchmarks/accuracy.py`` and the test suite.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Transform = Callable[[Image.Image, random.Random], Image.Image]


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """Round-trip through JPEG at ``quality``."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def reencode(image: Image.Image, rng: random.Random) -> Image.Image:
    return jpeg(image, rng.randint(35, 70))


def resize_small(image: Image.Image, rng: random.Random) -> Image.Image:
    scale = rng.uniform(0.3, 0.5)
    size = (max(32, int(image.width * scale)), max(32, int(image.height * scale)))
    return jpeg(image.resize(size, Image.Resampling.BILINEAR), 80)


def resize_large(image: Image.Image, rng: random.Random) -> Image.Image:
    scale = rng.uniform(1.3, 1.8)
    return image.resize(
        (int(image.width * scale), int(image.height * scale)), Image.Resampling.BICUBIC
    )


def grayscale(image: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def sepia(image: Image.Image, rng: random.Random) -> Image.Image:
    gray = ImageOps.grayscale(image)
    return ImageOps.colorize(gray, black=(40, 26, 13), white=(255, 236, 200))


def recolour(image: Image.Image, rng: random.Random) -> Image.Image:
    out = ImageEnhance.Color(image).enhance(rng.uniform(0.3, 1.8))
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.75, 1.25))
    return ImageEnhance.Contrast(out).enhance(rng.uniform(0.7, 1.4))


def caption(image: Image.Image, rng: random.Random) -> Image.Image:
    """Add a text bar above or below, as news channels and meme pages do."""
    bar = max(24, int(image.height * rng.uniform(0.12, 0.22)))
    colour = rng.choice([(255, 255, 255), (0, 0, 0), (200, 20, 30)])
    ink = (0, 0, 0) if colour == (255, 255, 255) else (255, 255, 255)
    out = Image.new("RGB", (image.width, image.height + bar), colour)
    on_top = rng.random() < 0.5
    out.paste(image, (0, bar if on_top else 0))
    draw = ImageDraw.Draw(out)
    size = max(10, bar // 3)
    words = rng.choice(
        ["BREAKING: explosion reported", "Footage shared by residents", "ВИДЕО: момент удара"]
    )
    y0 = 0 if on_top else image.height
    draw.text((size // 2, y0 + bar // 2 - size // 2), words, fill=ink, font=font(size))
    return jpeg(out, 85)


def logo(image: Image.Image, rng: random.Random) -> Image.Image:
    """Stamp a channel logo in a corner."""
    out = image.convert("RGB").copy()
    w = max(16, int(image.width * rng.uniform(0.12, 0.2)))
    h = max(10, w // 3)
    stamp = Image.new("RGBA", (w, h), (rng.randint(0, 255), 30, 60, 200))
    ImageDraw.Draw(stamp).text(
        (4, 2), "NEWS24", fill=(255, 255, 255, 255), font=font(max(8, h // 2))
    )
    corner = rng.choice(
        [
            (8, 8),
            (image.width - w - 8, 8),
            (8, image.height - h - 8),
            (image.width - w - 8, image.height - h - 8),
        ]
    )
    out.paste(stamp, corner, stamp)
    return jpeg(out, 85)


def letterbox(image: Image.Image, rng: random.Random) -> Image.Image:
    """Pad to a taller frame with black bars above and below."""
    height = (
        int(image.width * rng.uniform(0.9, 1.3))
        if image.width > image.height
        else int(image.height * 1.4)
    )
    out = Image.new("RGB", (image.width, max(height, image.height + 20)), (0, 0, 0))
    out.paste(image, (0, (out.height - image.height) // 2))
    return jpeg(out, 85)


def pillarbox(image: Image.Image, rng: random.Random) -> Image.Image:
    """Pad to a wider frame with bars left and right, as vertical phone video is shown."""
    width = int(image.width * rng.uniform(1.4, 1.9))
    colour = rng.choice([(0, 0, 0), (20, 20, 20), (255, 255, 255)])
    out = Image.new("RGB", (width, image.height), colour)
    out.paste(image, ((width - image.width) // 2, 0))
    return jpeg(out, 85)


def mirror(image: Image.Image, rng: random.Random) -> Image.Image:
    return jpeg(ImageOps.mirror(image), 85)


def rotate90(image: Image.Image, rng: random.Random) -> Image.Image:
    return jpeg(
        image.transpose(rng.choice([Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270])), 85
    )


def rotate180(image: Image.Image, rng: random.Random) -> Image.Image:
    return jpeg(image.transpose(Image.Transpose.ROTATE_180), 85)


def tilt(image: Image.Image, rng: random.Random) -> Image.Image:
    """Re-photograph from a screen: a few degrees of rotation, a dark surround, softness, noise."""
    angle = rng.choice([-1, 1]) * rng.uniform(2.0, 5.0)
    rotated = image.convert("RGB").rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(25, 25, 28)
    )
    margin_x, margin_y = int(image.width * 0.06), int(image.height * 0.06)
    out = Image.new(
        "RGB", (rotated.width + 2 * margin_x, rotated.height + 2 * margin_y), (25, 25, 28)
    )
    out.paste(rotated, (margin_x, margin_y))
    out = out.filter(ImageFilter.GaussianBlur(0.8))
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.85, 1.1))
    noise = Image.effect_noise(out.size, 12).convert("RGB")
    out = Image.blend(out, noise, 0.06)
    return jpeg(out, 75)


def crop70(image: Image.Image, rng: random.Random) -> Image.Image:
    """Keep 70% of the width and of the height, anywhere in the frame."""
    w, h = int(image.width * 0.7), int(image.height * 0.7)
    x, y = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
    return jpeg(image.crop((x, y, x + w, y + h)), 85)


def crop85(image: Image.Image, rng: random.Random) -> Image.Image:
    w, h = int(image.width * 0.85), int(image.height * 0.85)
    x, y = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
    return jpeg(image.crop((x, y, x + w, y + h)), 85)


def screenshot(image: Image.Image, rng: random.Random) -> Image.Image:
    """Embed in a social-media post: header with avatar and name, text, the picture, a footer."""
    dark = rng.random() < 0.4
    background, ink, muted = (
        ((21, 32, 43), (240, 240, 240), (140, 150, 160))
        if dark
        else ((255, 255, 255), (15, 20, 25), (100, 110, 120))
    )
    width = 720
    pad = 24
    pic_w = width - 2 * pad
    pic = image.convert("RGB").resize(
        (pic_w, max(16, int(image.height * pic_w / image.width))), Image.Resampling.BILINEAR
    )
    header, text_h, footer = 84, rng.choice([40, 80]), 70
    out = Image.new("RGB", (width, header + text_h + pic.height + footer + pad), background)
    draw = ImageDraw.Draw(out)
    draw.ellipse((pad, 16, pad + 52, 68), fill=(rng.randint(40, 200), 90, 160))
    draw.text((pad + 66, 18), "Field Reports", fill=ink, font=font(22))
    draw.text((pad + 66, 46), "@fieldreports · 2h", fill=muted, font=font(18))
    lines = ["Footage from this morning, shared by a local resident.", "Location not yet verified."]
    for i in range(text_h // 40):
        draw.text((pad, header + i * 36), lines[i % 2], fill=ink, font=font(20))
    top = header + text_h
    out.paste(pic, (pad, top))
    y = top + pic.height + 22
    for i, label in enumerate(["Like 1.2K", "Repost 340", "Reply 58", "Share"]):
        draw.text((pad + i * 160, y), label, fill=muted, font=font(18))
    return jpeg(out, 80)


TRANSFORMS: dict[str, Transform] = {
    "reencode": reencode,
    "resize_small": resize_small,
    "resize_large": resize_large,
    "grayscale": grayscale,
    "sepia": sepia,
    "recolour": recolour,
    "caption": caption,
    "logo": logo,
    "letterbox": letterbox,
    "pillarbox": pillarbox,
    "mirror": mirror,
    "rotate90": rotate90,
    "rotate180": rotate180,
    "tilt": tilt,
    "crop85": crop85,
    "crop70": crop70,
    "screenshot": screenshot,
}

# Which target in the issue each transformation answers to.
GROUPS = {
    "reencode": "basic",
    "resize_small": "basic",
    "resize_large": "basic",
    "grayscale": "basic",
    "sepia": "basic",
    "recolour": "basic",
    "caption": "basic",
    "logo": "basic",
    "letterbox": "basic",
    "pillarbox": "basic",
    "mirror": "hard",
    "rotate90": "hard",
    "rotate180": "hard",
    "tilt": "hard",
    "crop85": "hard",
    "crop70": "hard",
    "screenshot": "hard",
}


def make_variant(image: Image.Image, name: str, seed: int) -> bytes:
    """Return the JPEG bytes of ``image`` transformed by ``name``."""
    rng = random.Random(f"{name}:{seed}")
    out = TRANSFORMS[name](image.convert("RGB"), rng)
    buffer = io.BytesIO()
    out.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
