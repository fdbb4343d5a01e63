"""What a task's handler gets: its payload and checkpoint, and the calls that report progress,
commit a checkpoint with the work it describes, and stop it when cancelled or interrupted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.background import queue
from app.db import begin_for_write
from app.errors import DomainError
from app.i18n import N_
from app.models import BackgroundTask


class Cancelled(DomainError):
    """Someone asked the task to stop."""


class Interrupted(Exception):
    """The process running the task is stopping: the task goes back to the queue."""


@dataclass(frozen=True)
class Pause:
    """A pause after the Nth committed batch of a task (0: never), for tests that stop a
    process midway through a task."""

    after_batch: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Kind:
    """A kind of task: ``run`` does the work in the given session and answers the result;
    ``settle`` marks what the task was for once it failed or was cancelled, with a message;
    ``reopen`` undoes that before a retry (what the task is for waits again, and the retry
    resumes from the checkpoint), raising a DomainError when this task cannot be retried.
    A kind without ``reopen`` is never retried."""

    run: Callable[[Session, TaskContext], dict[str, Any]]
    settle: Callable[[Session, TaskContext, str, str], None]
    reopen: Callable[[Session, TaskContext], None] | None = None


@dataclass
class TaskContext:
    task_id: int
    kind: str
    attempt: int
    project_id: int | None
    created_by: int | None
    payload: dict[str, Any]
    checkpoint: dict[str, Any]
    lease: timedelta
    # Rows a batched task commits at a time (a resumed attempt starts after the last batch).
    batch_rows: int = 5000
    pause: Pause = Pause()
    # The latest progress, written to the task by the heartbeat (``pending`` until then).
    progress_now: tuple[str, int, int] = ("starting", 0, 0)
    pending: bool = True
    cancel_seen: bool = False
    lost: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, task: BackgroundTask, **running: Any) -> TaskContext:
        """The context of a claimed task (``running``: the runner's lease, batch size, pause
        and stop event), or of one nobody runs, to settle it."""
        return cls(
            task_id=task.id,
            kind=task.kind,
            attempt=task.attempts,
            project_id=task.project_id,
            created_by=task.created_by,
            payload=dict(task.payload),
            checkpoint=dict(task.checkpoint),
            lease=running.pop("lease", queue.DEFAULT_LEASE),
            **running,
        )

    def progress(self, phase: str, done: int, total: int) -> None:
        """Report progress (stored by the next heartbeat); stop here when asked to."""
        with self._lock:
            self.progress_now = (phase, done, total)
            self.pending = True
        self.stop_if_asked()

    def stop_if_asked(self, *, cancellable: bool = True) -> None:
        if self.lost:
            raise queue.LostLease(self.task_id)
        if self.stopping.is_set():
            raise Interrupted(self.task_id)
        if self.cancel_seen and cancellable:
            raise Cancelled(N_("Cancelled."))

    def commit(
        self,
        session: Session,
        state: dict[str, Any],
        phase: str,
        done: int,
        total: int,
        *,
        cancellable: bool = True,
    ) -> None:
        """Commit the session's work with the checkpoint that describes it, then go on in a
        new transaction. A resumed attempt starts from the last committed checkpoint. Work
        that must end once begun (``cancellable`` off) stops only for a process that stops."""
        batches = int(self.checkpoint.get("batches", 0)) + 1
        self.checkpoint = {**state, "batches": batches}
        self.cancel_seen |= queue.save_checkpoint(
            session,
            task_id=self.task_id,
            attempt=self.attempt,
            lease=self.lease,
            checkpoint=self.checkpoint,
            progress=(phase, done, total),
        )
        session.commit()
        with self._lock:
            self.progress_now = (phase, done, total)
            self.pending = False
        if self.pause.after_batch and batches == self.pause.after_batch:
            self.stopping.wait(self.pause.seconds)
        if not session.in_transaction():
            begin_for_write(session)
        self.stop_if_asked(cancellable=cancellable)

    def beat(self, session: Session) -> None:
        """The heartbeat: extend the lease, store the latest progress, learn of a cancel."""
        with self._lock:
            progress = self.progress_now if self.pending else None
            self.pending = False
        try:
            self.cancel_seen |= queue.heartbeat(
                session,
                task_id=self.task_id,
                attempt=self.attempt,
                lease=self.lease,
                progress=progress,
            )
        except queue.LostLease:
            self.lost = True
