"""Runs background tasks: claim one, run its handler with a heartbeat beside it, and end the
attempt as done, failed or cancelled, or hand it back when the process stops.

Every web process runs ``threads`` of these (``STUDIO_BACKGROUND_THREADS``), and so does
`studio worker --background`: any of them may claim any task, since all state is in the
database."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Cancelled, Interrupted, Kind, Pause, TaskContext
from app.db import begin_for_write
from app.errors import DomainError
from app.models import BackgroundTask

log = logging.getLogger("studio.background")


class Runner:
    def __init__(
        self,
        open_session: Callable[[], AbstractContextManager[Session]],
        kinds: Mapping[str, Kind],
        *,
        lease: timedelta = queue.DEFAULT_LEASE,
        poll_seconds: float = 1.0,
        batch_rows: int = 5000,
        pause: Pause = Pause(),
        name: str | None = None,
    ) -> None:
        self.open_session = open_session
        self.kinds = kinds
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.batch_rows = batch_rows
        self.pause = pause
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- the loop -----------------------------------------------------------------------------

    def start(self, threads: int) -> None:
        """Start ``threads`` loops that claim and run tasks until ``stop()``."""
        for number in range(threads):
            thread = threading.Thread(target=self.serve, name=f"background-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask running tasks to hand themselves back at their next report, and wait."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                ran = self.run_one(heartbeat=True)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
                log.exception("background loop")
                ran = None
            if ran is None:
                self.stopping.wait(self.poll_seconds)

    # -- one task -----------------------------------------------------------------------------

    def run_one(self, *, task_id: int | None = None, heartbeat: bool = False) -> int | None:
        """Claim a queued task (the one named, else the oldest) and run it here. Answers its
        id, or None when there was nothing to claim. ``heartbeat`` runs a heartbeat thread
        beside the work (off where the caller's session must not be shared by threads)."""
        worker = f"{self.name}:{threading.current_thread().name}"
        with self.open_session() as session:
            if not session.in_transaction():
                begin_for_write(session)
            task = queue.claim(session, worker=worker, lease=self.lease, task_id=task_id)
            if task is None:
                session.rollback()
                return None
            ctx = self._context(task)
            session.commit()
        if task.kind not in self.kinds:
            self._end(ctx, "failed", f"Unknown kind of task: {task.kind}")
            return ctx.task_id
        if task.cancel_requested:
            self._end(ctx, "cancelled", "Cancelled.")
            return ctx.task_id
        if task.attempts > task.max_attempts:
            self._end(ctx, "failed", "The process running this task stopped, too many times.")
            return ctx.task_id
        beating = self._heartbeat(ctx) if heartbeat else None
        try:
            self._execute(ctx)
        finally:
            if beating is not None:
                beating.set()
        return ctx.task_id

    def _context(self, task: BackgroundTask) -> TaskContext:
        return TaskContext.of(
            task,
            lease=self.lease,
            batch_rows=self.batch_rows,
            pause=self.pause,
            stopping=self.stopping,
        )

    def _execute(self, ctx: TaskContext) -> None:
        kind = self.kinds[ctx.kind]
        with self.open_session() as session:
            if not session.in_transaction():
                begin_for_write(session)
            try:
                result = kind.run(session, ctx)
                queue.finish(
                    session, task_id=ctx.task_id, attempt=ctx.attempt, state="done", result=result
                )
                session.commit()
                return
            except queue.LostLease:
                session.rollback()
                log.warning("task %s: lease lost; another process resumes it", ctx.task_id)
                return
            except Interrupted:
                session.rollback()
                if not session.in_transaction():
                    begin_for_write(session)
                queue.release(session, task_id=ctx.task_id, attempt=ctx.attempt)
                session.commit()
                log.info("task %s handed back to the queue", ctx.task_id)
                return
            except Cancelled:
                session.rollback()
                state, message = "cancelled", "Cancelled."
            except DomainError as error:
                session.rollback()
                state, message = "failed", error.text
            except Exception as error:  # noqa: BLE001 - any failure is reported on the task
                log.exception("task %s failed", ctx.task_id)
                session.rollback()
                state, message = "failed", f"The task stopped: {str(error)[:500]}"
        self._end(ctx, state, message)

    def _end(self, ctx: TaskContext, state: str, message: str) -> None:
        """Settle what the task was for, and end the attempt, in one transaction."""
        with self.open_session() as session:
            if not session.in_transaction():
                begin_for_write(session)
            try:
                if ctx.kind in self.kinds:
                    self.kinds[ctx.kind].settle(session, ctx, state, message)
                queue.finish(
                    session,
                    task_id=ctx.task_id,
                    attempt=ctx.attempt,
                    state=state,
                    error=None if state == "cancelled" else message,
                )
                session.commit()
            except queue.LostLease:
                session.rollback()

    def _heartbeat(self, ctx: TaskContext) -> threading.Event:
        """Beat every second (progress stays fresh; the lease is far longer) until set."""
        done = threading.Event()
        interval = min(1.0, self.lease.total_seconds() / 4)

        def beat() -> None:
            while not done.wait(interval):
                try:
                    with self.open_session() as session:
                        begin_for_write(session)
                        ctx.beat(session)
                        session.commit()
                except Exception:  # noqa: BLE001 - the next beat tries again
                    log.exception("task %s: heartbeat", ctx.task_id)
                if ctx.lost:
                    return

        threading.Thread(target=beat, name=f"heartbeat-{ctx.task_id}", daemon=True).start()
        return done
