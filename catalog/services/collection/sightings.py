"""Collection's word on sightings it recorded: who told a captured sighting's posted time
(the capture keeps it in its post), and the deletion re-check run at once, on an analyst's
asking, for one sighting or for every sighting of a capture."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import Capture


def posted_sources(session: Session, capture_ids: Iterable[int | None]) -> dict[int, str]:
    """Return, for each capture, who told the posted time it recorded (``posted_from``)."""
    wanted = {i for i in capture_ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(sa.select(Capture.id, Capture.post).where(Capture.id.in_(wanted)))
    return {
        capture_id: str(post["posted_from"])
        for capture_id, post in rows
        if isinstance(post, dict) and post.get("posted_from")
    }
