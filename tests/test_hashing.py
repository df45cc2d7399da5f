"""The pure hashing package: decoding every format and mode, hashes, trimming, rejections."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from catalog.hashing import (
    ImageRejected,
    fingerprint_image,
    hamming,
    open_image,
    parse_hex,
    perceptual,
)
from catalog.hashing.features import extract
from catalog.hashing.pipeline import fingerprint_file, fingerprint_query
from catalog.hashing.trim import find_content_box, trim

from .media import (
    BRIDGE,
    BRIDGE_EDITS,
    DIHEDRAL,
    LABELME,
    PHOTOS,
    bridge_image,
    dihedral_forms,
    encode,
    mode_forms,
    pattern,
    sample,
)

LIMIT = 100_000_000


def encode_roundtrip(image: Image.Image) -> Image.Image:
    """Return ``image`` after a trip through JPEG, with its noise."""
    return Image.open(__import__("io").BytesIO(encode(image, "JPEG", quality=85))).convert("RGB")


def pdq_of(data: bytes) -> bytes:
    return perceptual.pdq(open_image(data, LIMIT).rgb).bits


def test_hashing_and_index_import_neither_flask_nor_sqlalchemy() -> None:
    code = (
        "import sys, catalog.hashing, catalog.index; "
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ThreatExchange's reference hash of the bridge photograph (pdq/cpp/reg_test/expected/out).
BRIDGE_REFERENCE = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"


def test_pdq_matches_the_reference_implementation_bit_for_bit() -> None:
    # The reference tool (pdq/cpp/io/pdqio.cpp) squashes a picture larger than 512 pixels to
    # 512x512 by nearest neighbour (CImg's default resize) before PDQ's Jarosz filters. Given
    # those same pixels, our PDQ is the reference hash exactly: the algorithm is not in doubt.
    rgb = np.asarray(bridge_image())
    rows = np.arange(512) * rgb.shape[0] // 512
    cols = np.arange(512) * rgb.shape[1] // 512
    squashed = perceptual.pdq(np.ascontiguousarray(rgb[rows][:, cols]))
    assert squashed.bits.hex() == BRIDGE_REFERENCE and squashed.quality == 100


def test_our_decode_keeps_pdq_within_a_few_bits_of_the_reference() -> None:
    # We keep the picture's shape and decode JPEG at reduced scale (libjpeg's DCT scaling,
    # then a bilinear reduction to 512 pixels): on this photograph that moves 8 bits, and a
    # full-size decode hashed without squashing moves 6. Anything more means the decode or the
    # hash changed, far before it reaches the match threshold of 31.
    assert hamming(pdq_of(sample(BRIDGE)), bytes.fromhex(BRIDGE_REFERENCE)) <= 8
    full = perceptual.pdq(np.asarray(bridge_image())).bits
    assert hamming(full, bytes.fromhex(BRIDGE_REFERENCE)) <= 6


@pytest.mark.parametrize("path", BRIDGE_EDITS)
def test_bridge_edits_stay_close_to_the_original(path: str) -> None:
    original = pdq_of(sample(BRIDGE))
    assert hamming(original, pdq_of(sample(f"threatexchange/bridge-mods/{path}"))) <= 31


@pytest.mark.parametrize("name", sorted(mode_forms()))
def test_every_mode_sample_decodes_and_hashes_like_the_original(name: str) -> None:
    original = pdq_of(sample(BRIDGE))
    decoded = open_image(mode_forms()[name], LIMIT)
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape[2] == 3
    assert (decoded.width, decoded.height) == (1600, 1004)
    assert hamming(original, perceptual.pdq(decoded.rgb).bits) <= 31


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "P", "PA", "RGBA", "CMYK", "I", "F", "YCbCr", "LAB", "HSV", "I;16"]
)
def test_every_pillow_mode_in_memory(mode: str) -> None:
    image = bridge_image().resize((400, 251))
    reference = perceptual.pdq(np.asarray(image)).bits
    if mode == "HSV":
        converted = image.convert("HSV")
    elif mode == "LAB":
        from PIL import ImageCms

        srgb, lab = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB")
        converted = ImageCms.applyTransform(image, ImageCms.buildTransform(srgb, lab, "RGB", "LAB"))
    elif mode == "I;16":
        converted = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
    else:
        converted = image.convert(mode)
    from catalog.hashing.decode import to_rgb

    rgb = np.asarray(to_rgb(converted))
    limit = 40 if mode == "1" else 31  # a 1-bit picture has lost most of its tones
    assert hamming(reference, perceptual.pdq(rgb).bits) <= limit


@pytest.mark.parametrize(
    ("fmt", "mime", "options"),
    [
        ("JPEG", "image/jpeg", {"quality": 90}),
        ("PNG", "image/png", {}),
        ("WEBP", "image/webp", {"quality": 90}),
        ("GIF", "image/gif", {}),
        ("TIFF", "image/tiff", {}),
        ("BMP", "image/bmp", {}),
        ("HEIF", "image/heif", {"quality": 90}),
    ],
)
def test_formats_are_sniffed_from_content(fmt: str, mime: str, options: dict) -> None:
    image = pattern(seed=3)
    data = encode(image if fmt != "GIF" else image.convert("P"), fmt, **options)
    fp = fingerprint_image(data, LIMIT)
    assert (fp.format, fp.mime_type, fp.width, fp.height) == (fmt, mime, 320, 240)
    assert hamming(fp.hashes[0].bits, perceptual.pdq(np.asarray(image)).bits) <= 31


def test_gif_uses_its_first_frame() -> None:
    frames = [pattern(seed=1).convert("P"), pattern(seed=2).convert("P")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    first = perceptual.pdq(np.asarray(frames[0].convert("RGB"))).bits
    assert hamming(pdq_of(data), first) <= 31


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_honoured(orientation: int) -> None:
    decoded = open_image(sample(f"threatexchange/exif-rotn/exif-rotn-{orientation}.jpg"), LIMIT)
    portrait = orientation in (6, 8)
    assert (decoded.width < decoded.height) == portrait
    assert (decoded.rgb.shape[0] > decoded.rgb.shape[1]) == portrait
    # The same picture stored with an orientation tag reads exactly as the turned pixels.
    image = pattern(seed=5)
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = open_image(encode(image, "JPEG", quality=95, exif=exif), LIMIT)
    turned = ImageOps.exif_transpose(
        Image.open(__import__("io").BytesIO(encode(image, "JPEG", quality=95, exif=exif)))
    )
    assert hamming(perceptual.pdq(tagged.rgb).bits, perceptual.pdq(np.asarray(turned)).bits) <= 16


def test_exif_metadata_is_kept() -> None:
    fp = fingerprint_image(sample("threatexchange/exif-rotn/exif-rotn-1.jpg"), LIMIT)
    exif = fp.metadata["exif"]
    assert (exif["Make"], exif["Model"]) == ("samsung", "SM-G930V")
    assert exif["DateTimeOriginal"] == "2017:11:07 22:14:15"
    assert fp.metadata["exif_captured_at"] == "2017-11-07T22:14:15"
    assert exif["GPS"] == {
        "latitude": pytest.approx(38.977935),
        "longitude": pytest.approx(-77.0232027),
    }


def test_dihedral_hashes_follow_the_named_symmetries() -> None:
    rgb = open_image(sample(BRIDGE), LIMIT).rgb
    forms = dict(zip(perceptual.DIHEDRAL, perceptual.dihedral_arrays(rgb), strict=True))
    for value in perceptual.pdq_dihedral(rgb):
        direct = perceptual.pdq(np.ascontiguousarray(forms[value.variant])).bits
        assert hamming(value.bits, direct) <= 20, value.variant
    for value in perceptual.phash_dihedral(rgb):
        direct = perceptual.phash(np.ascontiguousarray(forms[value.variant])).bits
        assert hamming(value.bits, direct) <= 6, value.variant


@pytest.mark.parametrize("name", sorted(DIHEDRAL))
def test_dihedral_samples_match_through_the_query_symmetries(name: str) -> None:
    original = pdq_of(sample(BRIDGE))
    query = fingerprint_query(dihedral_forms()[name], LIMIT)
    assert min(hamming(h.bits, original) for h in query.hashes if h.algorithm == "pdq") <= 20


def test_unrelated_samples_are_far_apart() -> None:
    names = [
        "pen-and-coaster.png",
        *[f"labelme-subset/{name}" for name in LABELME],
    ]
    hashes = [pdq_of(sample(f"threatexchange/{n}")) for n in names]
    bridge = pdq_of(sample(BRIDGE))
    for i, value in enumerate(hashes):
        assert hamming(value, bridge) > 52
        for other in hashes[i + 1 :]:
            assert hamming(value, other) > 52


def test_parse_hex_and_hamming() -> None:
    assert parse_hex("phash", "ff00ff00ff00ff00") == bytes.fromhex("ff00ff00ff00ff00")
    assert hamming(bytes.fromhex("ff00"), bytes.fromhex("0f01")) == 5
    for algorithm, text, message in [
        ("pdq", "abc", "64 hexadecimal digits"),
        ("pdq", "z" * 64, "64 hexadecimal digits"),
        ("phash", "0" * 17, "16 hexadecimal digits"),
        ("md5", "0" * 32, "unknown hash algorithm"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_hex(algorithm, text)


def test_trim_finds_the_picture_inside_bars_captions_and_margins() -> None:
    from PIL import ImageDraw, ImageFont

    card = Image.new("RGB", (420, 320), (255, 255, 255))
    card.paste(pattern(300, 200, seed=9), (60, 40))
    draw = ImageDraw.Draw(card)
    draw.text(
        (20, 8), "Channel name @handle", fill=(20, 20, 20), font=ImageFont.load_default(size=20)
    )
    draw.text(
        (20, 262),
        "Footage shared this morning, location unverified",
        fill=(0, 0, 0),
        font=ImageFont.load_default(size=18),
    )
    framed = np.asarray(encode_roundtrip(card))
    top, bottom, left, right = find_content_box(framed)
    assert (
        abs(top - 40) <= 3
        and abs(bottom - 240) <= 3
        and abs(left - 60) <= 3
        and abs(right - 360) <= 3
    )
    assert trim(np.asarray(pattern(300, 200, seed=9))) is None


def test_trim_leaves_a_low_contrast_texture_alone() -> None:
    rgb = open_image(sample("photos/grass.png"), LIMIT).rgb
    boxed = np.zeros((rgb.shape[0], rgb.shape[1] + 200, 3), dtype=np.uint8)
    boxed[:, 100 : 100 + rgb.shape[1]] = rgb
    top, bottom, left, right = find_content_box(boxed)
    assert (top, bottom) == (0, rgb.shape[0])
    assert abs(left - 100) <= 4 and abs(right - (100 + rgb.shape[1])) <= 4


def test_keypoints_are_spread_and_packable() -> None:
    features = extract(open_image(sample("photos/astronaut.png"), LIMIT).rgb)
    assert 50 <= len(features) <= 96
    xs = features.points[:, 0]
    assert xs.min() < 0.3 and xs.max() > 0.7  # not all in one corner
    from catalog.hashing.features import Features

    again = Features.unpack(*features.pack(), features.width, features.height)
    assert np.array_equal(again.descriptors, features.descriptors)
    assert np.allclose(again.points, features.points, atol=1e-4)


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = zlib.compress(b"\x00" * (width // 8 + 1) * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", rows)
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"hello, this is text", "not_an_image"),
        (b"<html><script>alert(1)</script></html>", "not_an_image"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="10" height="10"/></svg>',
            "not_an_image",
        ),
        (png_bomb(100_000, 100_000), "too_many_pixels"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(data: bytes, code: str) -> None:
    with pytest.raises(ImageRejected) as raised:
        fingerprint_image(data, LIMIT)
    assert raised.value.code == code
    assert str(raised.value)


def test_truncated_jpeg_and_png_are_rejected() -> None:
    for fmt in ("JPEG", "PNG"):
        data = encode(pattern(seed=4), fmt)
        with pytest.raises(ImageRejected) as raised:
            fingerprint_image(data[: len(data) // 2], LIMIT)
        assert raised.value.code in ("truncated", "corrupt"), fmt


def test_pixel_limit_comes_from_the_caller() -> None:
    data = encode(pattern(400, 300), "PNG")
    with pytest.raises(ImageRejected, match="more than the limit of 100000"):
        fingerprint_image(data, 100_000)
    assert fingerprint_image(data, 120_000).width == 400


def test_fingerprint_file_reports_instead_of_raising(tmp_path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    assert fingerprint_file(str(bad), LIMIT, 10_000).error_code == "not_an_image"
    big = tmp_path / "big.png"
    big.write_bytes(encode(pattern(), "PNG"))
    assert fingerprint_file(str(big), LIMIT, 100).error_code == "too_large"
    assert fingerprint_file(str(tmp_path / "missing.jpg"), LIMIT, 100).error_code == "unreadable"
    good = fingerprint_file(str(PHOTOS / "coins.png"), LIMIT, 10**8)
    assert good.error is None and good.stored is not None and good.query is not None
