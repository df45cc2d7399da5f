"""gunicorn settings used by `make run`; each worker loads the similarity index as it starts."""

import os

bind = os.environ.get("CATALOG_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CATALOG_WORKERS", "2"))
accesslog = "-"
# Uploads of large videos take time; do not kill a worker mid-upload.
timeout = 120


def post_worker_init(worker):
    """Start loading the index; /readyz answers 503 until it is in memory."""
    from catalog.services.matching import start_preload

    start_preload(worker.wsgi)
