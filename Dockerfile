# The catalogue's image for docker compose (deploy/compose.yaml) and other container runners:
# the app, its command line and the job worker, on Debian 12 as the tests run them.
FROM python:3.11.11-slim-bookworm

# Chromaprint (sound fingerprints), Chromium and fonts (screenshots of captured posts),
# Tesseract's English, Russian and Ukrainian data (text in pictures and video frames), and
# the PostgreSQL client tools for backups and the restore drill.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libchromaprint1 chromium fonts-dejavu-core postgresql-client \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus tesseract-ocr-ukr \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/catalog
# Every package pinned with the hashes of its files (requirements.lock, from requirements.txt).
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY catalog catalog
COPY config config
COPY migrations migrations
COPY alembic.ini wsgi.py ./

# An ordinary user; captures run as it with an environment of their own, and Chromium keeps its
# sandbox, which needs user namespaces: run the container with a seccomp profile that allows
# them, or captures are refused and /readyz says why (docs/deploy.md). State under
# /var/lib/catalog.
RUN useradd --system --create-home --home-dir /var/lib/catalog catalog
USER catalog
ENV CATALOG_SETTINGS=/srv/catalog/config/production.example.py \
    CATALOG_INSTANCE_PATH=/var/lib/catalog/instance \
    CATALOG_MEDIA_ROOT=/var/lib/catalog/scratch \
    CATALOG_INDEX_DIR=/var/lib/catalog/index \
    CATALOG_BIND=0.0.0.0:8000 \
    FLASK_APP=wsgi
EXPOSE 8000
CMD ["gunicorn", "--config", "config/gunicorn.conf.py", "wsgi:app"]
