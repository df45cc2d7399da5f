"""gunicorn settings used by `make run`: the master brings the index snapshot up to date, then
each worker maps it and reads the rows past it as it starts. On the embedded default
(``QUEUE_EMBEDDED_WORKER``) the master also runs the background job worker beside the app
(`flask catalog worker`), and stops it when it stops."""

import os
import subprocess
import sys

bind = os.environ.get("CATALOG_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CATALOG_WORKERS", "2"))
accesslog = "-"
# Uploads of large videos take time; do not kill a worker mid-upload.
timeout = 120


def on_starting(server):
    """Bring this server's index snapshot up to date once, before the workers map it."""
    from catalog.db import database
    from catalog.services.media.matching import prepare_snapshot
    from wsgi import app

    prepare_snapshot(app)
    # Forked workers must not share the master's database connections.
    database(app).engine.dispose()
    if app.config["QUEUE_EMBEDDED_WORKER"]:
        server.job_worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", "worker"],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        server.log.info("job worker started (pid %s)", server.job_worker.pid)


def on_exit(server):
    """Stop the job worker this master started; a job it was running is queued again."""
    worker = getattr(server, "job_worker", None)
    if worker is not None and worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def post_worker_init(worker):
    """Start loading the index; /readyz answers 503 until it is in memory."""
    from catalog.index import set_threads
    from catalog.services.media.matching import start_preload

    # FAISS's thread count belongs to the thread that sets it, and the app was created in the
    # master (on_starting): set it in the worker's own thread, which serves the requests. A
    # team of threads per search in each of several workers fights for the same cores.
    set_threads(int(worker.wsgi.config["INDEX_THREADS"]))
    start_preload(worker.wsgi)
