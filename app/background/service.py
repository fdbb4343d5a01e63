"""What people do with background tasks: look at them, and cancel them."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.models import BackgroundTask, User


def cancel(
    *, session: Session, task: BackgroundTask, actor: User, kinds: Mapping[str, Kind]
) -> BackgroundTask:
    """A queued task is cancelled now, and what it was for is settled; a running one stops at
    its next progress report, and the process running it settles it."""
    if queue.request_cancel(session, task=task, actor=actor) and task.kind in kinds:
        kinds[task.kind].settle(session, TaskContext.of(task), "cancelled", "Cancelled.")
    return task
