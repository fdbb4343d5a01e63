"""Where things are: the worker API's paths, and the layout of a job's folder in the artifact
store. The app's routes and the trainer's client both use these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.protocol import is_checkpoint_name

API_ROOT = "/api/v1"


class WorkerPath:
    """The worker API's paths under ``API_ROOT``; fill in ``job_id``, ``version_id``, ``split``
    and ``preflight_id`` with ``str.format``. The app's routes and the trainer's client both
    use these."""

    CLAIM = "/worker/jobs/claim"
    HEARTBEAT = "/worker/jobs/{job_id}/heartbeat"
    METRICS = "/worker/jobs/{job_id}/metrics"
    LOGS = "/worker/jobs/{job_id}/logs"
    DYNAMICS = "/worker/jobs/{job_id}/dynamics"
    PREDICTIONS = "/worker/jobs/{job_id}/predictions"
    COMPLETE = "/worker/jobs/{job_id}/complete"
    FAIL = "/worker/jobs/{job_id}/fail"
    CANCELLED = "/worker/jobs/{job_id}/cancelled"
    # Generation jobs (app.core.generation): the items to read, and what the model wrote.
    INPUTS = "/worker/jobs/{job_id}/inputs"
    GENERATIONS = "/worker/jobs/{job_id}/generations"
    MANIFEST = "/worker/datasets/{version_id}/manifest"
    SPLIT = "/worker/datasets/{version_id}/splits/{split}"
    # Pre-flight checks of the launch form's settings (app.core.preflight), taken before jobs.
    PREFLIGHT_CLAIM = "/worker/preflights/claim"
    PREFLIGHT_REPORT = "/worker/preflights/{preflight_id}/report"
    PREFLIGHT_FAIL = "/worker/preflights/{preflight_id}/fail"


MODEL_CARD = "README.md"


@dataclass(frozen=True)
class JobFolder:
    """A job's folder in the artifact store, ``<artifacts>/jobs/<id>/``: the worker writes it
    and the app serves from it, so a remote worker needs the store shared (a volume)."""

    path: Path

    @classmethod
    def of(cls, artifacts_root: str | Path, job_id: int) -> JobFolder:
        return cls(Path(artifacts_root) / "jobs" / str(job_id))

    @property
    def base(self) -> Path:
        """The ``tiny`` base model, built here from the dataset's text."""
        return self.path / "base"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, name: str) -> Path:
        """The folder of checkpoint ``name``; anything but ``step-<n>`` is refused."""
        if not is_checkpoint_name(name):
            raise ValueError(f"{name!r} is not a checkpoint name (step-<n>)")
        return self.checkpoints / name

    @property
    def model(self) -> Path:
        """The trained model (or adapter) and its tokenizer: what the app offers to download."""
        return self.path / "model"

    @property
    def card(self) -> Path:
        return self.model / MODEL_CARD

    @property
    def merged(self) -> Path:
        """LoRA with ``save_merged``: the base weights with the adapter folded in."""
        return self.model / "merged"
