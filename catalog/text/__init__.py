"""Reading and searching text: what media say (OCR of pictures and video frames, subtitles)
and how text is made searchable (normalising, stemming, transliteration, query parsing).

A pure core: bytes and strings in, text spans and search terms out; it imports neither Flask
nor SQLAlchemy. The services' ``text`` domain stores what it returns and searches it.
"""

from __future__ import annotations
