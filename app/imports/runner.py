"""Runs imports beside the web requests and keeps their progress for the progress bar."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.db import begin_for_write
from app.imports import service as imports
from app.imports.reader import ImportOptions
from app.models import ImportJob, User
from app.models.base import utcnow

log = logging.getLogger("studio.imports")


@dataclass
class ProgressBoard:
    """Progress of running imports in this process: {job_id: (phase, done, total)}."""

    _state: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, job_id: int, phase: str, done: int, total: int) -> None:
        with self._lock:
            self._state[job_id] = (phase, done, total)

    def get(self, job_id: int) -> tuple[str, int, int] | None:
        with self._lock:
            return self._state.get(job_id)

    def clear(self, job_id: int) -> None:
        with self._lock:
            self._state.pop(job_id, None)


class ImportRunner:
    """One background thread; each import reads and writes through its own session."""

    def __init__(
        self,
        open_session: Callable[[], AbstractContextManager[Session]],
        *,
        executor: Executor | None = None,
    ) -> None:
        """``executor`` runs the imports: one background thread unless another is given."""
        self.open_session = open_session
        self.board = ProgressBoard()
        self.pool = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="import")

    def start(self, job_id: int, options: ImportOptions, actor_id: int) -> None:
        self.board.set(job_id, "queued", 0, 0)
        self.pool.submit(self._run, job_id, options, actor_id)

    def _run(self, job_id: int, options: ImportOptions, actor_id: int) -> None:
        def progress(phase: str, done: int, total: int) -> None:
            self.board.set(job_id, phase, done, total)

        try:
            with self.open_session() as session:
                if not session.in_transaction():
                    begin_for_write(session)
                actor = session.get(User, actor_id)
                job = imports.run(
                    session=session, job_id=job_id, options=options, actor=actor, progress=progress
                )
                session.commit()
                if job.state == "done":
                    if not session.in_transaction():
                        begin_for_write(session)
                    imports.index_near_duplicates(session=session, job_id=job_id, progress=progress)
                    session.commit()
        except Exception as error:  # noqa: BLE001 - any failure is reported on the job
            log.exception("import %s failed", job_id)
            with self.open_session() as session:
                session.rollback()
                job = session.get(ImportJob, job_id)
                job.state = "failed"
                job.message = f"The import stopped: {str(error)[:500]}"
                job.finished_at = utcnow()
                session.commit()
        finally:
            self.board.clear(job_id)
