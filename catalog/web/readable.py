"""What the pages show in words instead of as stored: an audit event's details as one line per
field ("title: old → new"), and a browser's User-Agent string as "Firefox 128 on Linux"."""

from __future__ import annotations

import re
from typing import Any

ARROW = "→"


def _said(value: Any) -> str:
    """One value as a person reads it: no quotes, no escapes, lists joined, nothing as "—"."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_said(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_said(item)}" for key, item in value.items())
    return str(value)


def _label(name: str) -> str:
    return name.replace("_", " ")


def audit_lines(details: dict[str, Any] | None) -> list[str]:
    """Return an audit event's details as lines: each change "field: old → new", then the rest."""
    lines: list[str] = []
    rest = dict(details or {})
    changes = rest.pop("changes", None)
    if isinstance(changes, dict):
        for name, change in changes.items():
            if isinstance(change, dict) and set(change) == {"from", "to"}:
                was, now = _said(change["from"]), _said(change["to"])
                lines.append(f"{_label(name)}: {was} {ARROW} {now}")
            else:
                lines.append(f"{_label(name)}: {_said(change)}")
    elif changes is not None:
        rest["changes"] = changes
    lines.extend(f"{_label(name)}: {_said(value)}" for name, value in rest.items())
    return lines


# Browsers in the order they must be tried: Edge and Opera also say "Chrome", and Chrome also
# says "Safari", so the more particular name is looked for first.
_BROWSERS = (
    ("Edge", r"Edg(?:e|A|iOS)?/(\d+)"),
    ("Opera", r"(?:OPR|Opera)/(\d+)"),
    ("Samsung Internet", r"SamsungBrowser/(\d+)"),
    ("Firefox", r"(?:Firefox|FxiOS)/(\d+)"),
    ("Chromium", r"Chromium/(\d+)"),
    ("Chrome", r"(?:Chrome|CriOS)/(\d+)"),
    ("Safari", r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/"),
    ("curl", r"^curl/(\d+(?:\.\d+)?)"),
    ("Python", r"python-(?:requests|httpx|urllib\d?)/(\d+(?:\.\d+)?)"),
)
_SYSTEMS = (
    ("Android", r"Android"),
    ("iOS", r"iPhone|iPad|iPod"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux|X11"),
)


def browser_summary(user_agent: str | None) -> str:
    """Return a User-Agent string in short ("Firefox 128 on Linux"), or it cut when unknown."""
    text = (user_agent or "").strip()
    if not text:
        return ""
    browser = next(
        (
            f"{name} {found.group(1)}"
            for name, pattern in _BROWSERS
            if (found := re.search(pattern, text))
        ),
        None,
    )
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, text)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"a browser on {system}"
    # Unknown: its first word, short enough for a phone's width (the whole is in a title).
    return text.split()[0][:40]
