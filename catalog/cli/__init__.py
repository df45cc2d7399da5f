"""``flask catalog ...``: the command line for operators and bulk work."""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

from . import admin, capture, evidence, index, media, storage, text

catalog = AppGroup("catalog", help="Manage the media-evidence catalogue.")
for command in (
    *admin.COMMANDS,
    *media.COMMANDS,
    *capture.COMMANDS,
    *evidence.COMMANDS,
    *index.COMMANDS,
    *storage.COMMANDS,
    *text.COMMANDS,
):
    catalog.add_command(command)


def init_app(app: Flask) -> None:
    """Register the ``catalog`` command group."""
    app.cli.add_command(catalog)
