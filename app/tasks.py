"""The kinds of background task and the runner that runs them, assembled from the domains
that define them (each domain queues its own tasks; only this module knows them all)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

from sqlalchemy.orm import Session

from app.background.context import Pause
from app.background.runner import Runner
from app.config import Settings
from app.datasets import task as freeze
from app.imports import task as imports
from app.items import augment_task, bulk_task
from app.pairs import task as pairs

KINDS = {
    **imports.KINDS,
    **freeze.KINDS,
    **bulk_task.KINDS,
    **augment_task.KINDS,
    **pairs.KINDS,
}


def make_runner(
    settings: Settings, open_session: Callable[[], AbstractContextManager[Session]]
) -> Runner:
    return Runner(
        open_session,
        KINDS,
        lease=timedelta(seconds=settings.background_lease_seconds),
        poll_seconds=settings.background_poll_seconds,
        batch_rows=settings.background_batch_rows,
        pause=Pause(settings.background_pause_after_batch, settings.background_pause_seconds),
    )
