"""Tools the Makefile runs on the repository itself (``python -m tools.NAME``), apart from the
catalogue's own code."""
