"""The ``/metrics`` exposition: what every web process counted (``app.metrics``) and what the
database says now about the queues.

The queue gauges are read from the database at each scrape, by the process that answers it, and
never stored in the processes' metric files: a gauge set by one process and read back from
another's file would be as old as that process's last scrape. One query per figure, on indexed
columns (``state``/``status`` lead the queue indexes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import metrics
from app.background import queue as background_queue
from app.models import BackgroundTask, Job
from app.models.base import utcnow

ACTIVE_JOB_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class QueueState:
    """The queues as the database has them at one moment."""

    tasks: dict[str, int]
    jobs: dict[str, int]
    # None when nothing is running: there is no heartbeat to be late.
    task_heartbeat_age: float | None
    job_lease_left: float | None


def read_queues(session: Session, now: datetime | None = None) -> QueueState:
    """Count queued and running background tasks and training jobs, the age of the latest
    heartbeat of a running background task, and the shortest lease left to a running job."""
    now = now or utcnow()
    jobs = dict(
        session.execute(
            select(Job.status, func.count())
            .where(Job.status.in_(ACTIVE_JOB_STATUSES))
            .group_by(Job.status)
        ).all()
    )
    heartbeat = session.scalar(
        select(func.max(BackgroundTask.heartbeat_at)).where(BackgroundTask.state == "running")
    )
    lease = session.scalar(select(func.min(Job.lease_until)).where(Job.status == "running"))
    return QueueState(
        tasks=background_queue.depth(session),
        jobs={status: jobs.get(status, 0) for status in ACTIVE_JOB_STATUSES},
        task_heartbeat_age=(now - heartbeat).total_seconds() if heartbeat else None,
        job_lease_left=(lease - now).total_seconds() if lease else None,
    )


class QueueCollector:
    """The gauges of one :class:`QueueState`, for one scrape."""

    def __init__(self, state: QueueState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily(
            "studio_background_tasks", "Background tasks by state.", labels=["state"]
        )
        for state, count in sorted(self.state.tasks.items()):
            tasks.add_metric([state], count)
        yield tasks
        jobs = GaugeMetricFamily(
            "studio_training_jobs", "Training jobs by status.", labels=["status"]
        )
        for status, count in sorted(self.state.jobs.items()):
            jobs.add_metric([status], count)
        yield jobs
        if self.state.task_heartbeat_age is not None:
            yield GaugeMetricFamily(
                "studio_background_last_heartbeat_age_seconds",
                "Seconds since the latest heartbeat of a running background task.",
                value=self.state.task_heartbeat_age,
            )
        if self.state.job_lease_left is not None:
            yield GaugeMetricFamily(
                "studio_training_jobs_lease_seconds_left",
                "Shortest lease left to a running training job; each heartbeat renews it, "
                "and a job whose lease runs out is requeued.",
                value=self.state.job_lease_left,
            )


def exposition(session: Session, accept: str = "") -> tuple[bytes, str]:
    """Every metric, for one scrape, and its content type: the format the ``Accept`` header
    asks for (OpenMetrics or Prometheus text), as the library negotiates it."""
    registry = CollectorRegistry()
    registry.register(metrics.collector())
    registry.register(QueueCollector(read_queues(session)))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type
