"""Real photographs for the scale benchmarks: the wallpapers of Debian packages.

``make bench-deps`` installs the packages below; each ships photographs (and some drawings)
under a free licence, stated in the package's ``/usr/share/doc/<package>/copyright``. Nothing
here is copied into the repository: the benchmarks read them where Debian puts them, and
what they make from them (distractor composites) is generated on the spot or cached under
``benchmarks/out``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

PACKAGES = (
    "gnome-backgrounds",
    "mate-backgrounds",
    "sway-backgrounds",
    "plasma-workspace-wallpapers",
    "ukui-wallpapers",
    "lomiri-wallpapers",
    "debian-edu-artwork-emerald",
    "debian-edu-artwork-homeworld",
)
FOLDERS = (
    Path("/usr/share/backgrounds"),
    Path("/usr/share/wallpapers"),
    Path("/usr/share/desktop-base"),
)
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
# Several sizes of one wallpaper ship side by side; one of each is enough.
_SIZE = re.compile(r"[_-]?\d{3,4}x\d{3,4}(_portrait)?$", re.IGNORECASE)


def paths() -> list[Path]:
    """Return one file per distinct wallpaper (the largest of its sizes), sorted."""
    best: dict[str, Path] = {}
    for folder in FOLDERS:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in SUFFIXES or not path.is_file() or not _usable(path):
                continue
            key = _group(path)
            if key not in best or path.stat().st_size > best[key].stat().st_size:
                best[key] = path
    return sorted(best.values())


def _usable(path: Path) -> bool:
    """Keep pictures of some size; leave out logos and boot-menu backgrounds."""
    if any(part in ("grub", "debian-logos", "login", "lockscreen") for part in path.parts):
        return False
    try:
        with Image.open(path) as image:
            return min(image.size) >= 600
    except OSError:
        return False


def _group(path: Path) -> str:
    parts = path.parts
    if "contents" in parts:  # KDE layout: <name>/contents/images/<size>.<ext>
        return str(Path(*parts[: parts.index("contents")]))
    return str(path.parent / _SIZE.sub("", path.stem))


def require(minimum: int = 50) -> list[Path]:
    """Return the wallpapers, or stop with how to install them."""
    found = paths()
    if len(found) < minimum:
        raise SystemExit(
            f"found {len(found)} wallpapers, need {minimum}: run `make bench-deps` "
            f"(Debian packages {' '.join(PACKAGES)})"
        )
    return found


def load(path: Path, longest: int = 1600) -> np.ndarray:
    """Decode a wallpaper to RGB with its longest side at most ``longest`` pixels."""
    with Image.open(path) as image:
        image.draft("RGB", (longest, longest))
        rgb = image.convert("RGB")
        rgb.thumbnail((longest, longest), Image.Resampling.BILINEAR)
        return np.asarray(rgb)
