"""WSGI entry point for gunicorn and ``flask --app wsgi``."""

from catalog import create_app

app = create_app()
