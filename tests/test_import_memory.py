"""`flask catalog import` keeps memory flat: the hashing processes work only a few files ahead
of the ingest, so a folder's size never decides how many fingerprints wait in memory.

Counted, not measured: every file handed to the pool is watched from the moment it is
submitted until it is ingested (``benchmarks/import_memory.py`` measures the memory itself).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.cli import media

from .media import encode, pattern

FILES = 24


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """A folder of FILES distinct small JPEGs, two of them refused (third and second to last)."""
    root = tmp_path / "many"
    root.mkdir()
    for n in range(FILES):
        (root / f"photo-{n:02d}.jpg").write_bytes(encode(pattern(160, 120, seed=n), "JPEG"))
    (root / "photo-02.jpg").write_bytes(b"")
    (root / "photo-22.jpg").write_text("<html>not a picture</html>")
    return root


class Watch:
    """Counts files handed to the hashing pool, or hashed in process, and files ingested."""

    def __init__(self) -> None:
        self.handed = 0
        self.ingested: list[str] = []
        self.ahead: list[int] = []  # at each ingest: files handed over past the one ingested

    def pool(self, make: Callable[[int], Any]) -> Callable[[int], Any]:
        """Wrap ``_hashing_pool`` so that each submission to a real pool is counted."""

        def counted(jobs: int) -> Any:
            pool = make(jobs)
            submit = pool.submit

            def counting_submit(*args: Any, **kwargs: Any) -> Any:
                self.handed += 1
                return submit(*args, **kwargs)

            pool.submit = counting_submit  # Executor.map submits through it too
            return pool

        return counted

    def hashing(self, fingerprint: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap ``fingerprint_file`` where it runs in this process (``--jobs 1``)."""

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.handed += 1
            return fingerprint(*args, **kwargs)

        return counted

    def ingest(self, ingest_one: Callable[..., str]) -> Callable[..., str]:
        """Wrap ``_ingest_one`` to note how far the hashing has gone past this file."""

        def counted(*args: Any, **kwargs: Any) -> str:
            self.ahead.append(self.handed - len(self.ingested) - 1)
            result = args[4]
            self.ingested.append(Path(result.path).name)
            return ingest_one(*args, **kwargs)

        return counted


@pytest.mark.parametrize("jobs", [2, 3])
def test_hashing_stays_a_bounded_window_ahead_of_the_ingest(
    runner: FlaskCliRunner,
    session: Session,
    many: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: int,
) -> None:
    watch = Watch()
    monkeypatch.setattr(media, "_hashing_pool", watch.pool(media._hashing_pool))
    monkeypatch.setattr(media, "_ingest_one", watch.ingest(media._ingest_one))

    result = runner.invoke(args=["catalog", "import", "--jobs", str(jobs), str(many)])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "added 22, already known 0, rejected 2"
    # In the order of the folder, whatever order the processes finished in.
    assert watch.ingested == [f"photo-{n:02d}.jpg" for n in range(FILES)]
    refused = [line for line in result.stderr.splitlines() if line.startswith("rejected ")]
    assert [line.split(":")[0] for line in refused] == [
        f"rejected {many / 'photo-02.jpg'}",
        f"rejected {many / 'photo-22.jpg'}",
    ]
    # Never more than the window waits; and the window is filled, so every process keeps busy.
    assert max(watch.ahead) == media.AHEAD_PER_JOB * jobs, watch.ahead
    assert watch.handed == FILES


def test_hashing_in_process_goes_one_file_at_a_time(
    runner: FlaskCliRunner, session: Session, many: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = Watch()
    monkeypatch.setattr(media, "fingerprint_file", watch.hashing(media.fingerprint_file))
    monkeypatch.setattr(media, "_ingest_one", watch.ingest(media._ingest_one))

    result = runner.invoke(args=["catalog", "import", "--jobs", "1", str(many)])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "added 22, already known 0, rejected 2"
    assert watch.ingested == [f"photo-{n:02d}.jpg" for n in range(FILES)]
    assert watch.handed == FILES and max(watch.ahead) == 0
