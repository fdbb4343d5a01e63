"""Talks to the app's API with a worker token; payloads and paths are in app.core.protocol.

Long series (an epoch's dynamics, the eval predictions) go in several reports, each within the
protocol's row limit and ``REPORT_BYTES`` of JSON, so none meets the app's request limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import httpx
from pydantic import BaseModel

from app.core import job_paths, protocol
from app.core.devices import WorkerDevice
from app.core.generation import (
    GenerationBatch,
    GenerationInput,
    GenerationInputPage,
    GenerationReply,
)
from app.core.job_paths import WorkerPath
from app.core.preflight import PreflightFailure, PreflightReport, PreflightSpec

Row = TypeVar("Row", bound=BaseModel)


def reports(
    rows: Sequence[Row], *, max_rows: int, max_bytes: int = protocol.REPORT_BYTES
) -> Iterator[list[Row]]:
    """``rows`` in order, cut into reports of at most ``max_rows`` rows and, unless one row
    alone is larger, ``max_bytes`` of JSON."""
    chunk: list[Row] = []
    size = 0
    for row in rows:
        n = len(row.model_dump_json().encode()) + 1
        if chunk and (len(chunk) >= max_rows or size + n > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += n
    if chunk:
        yield chunk


class AppClient:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/") + job_paths.API_ROOT,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def _post(self, path: str, body) -> httpx.Response:
        data = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
        response = self.http.post(path, json=data)
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:500]}")
        return response

    def claim(
        self,
        worker: str,
        device: WorkerDevice | None = None,
        kinds: tuple[protocol.JobKind, ...] = ("finetune", "generate"),
    ) -> protocol.JobSpec | None:
        """The next job this worker's ``device`` can run, or None when there is none."""
        body = protocol.ClaimRequest(worker=worker, device=device, kinds=list(kinds))
        response = self._post(WorkerPath.CLAIM, body)
        if response.status_code == 204:
            return None
        return protocol.JobSpec.model_validate(response.json())

    def claim_preflight(
        self, worker: str, device: WorkerDevice | None = None
    ) -> PreflightSpec | None:
        """The next pre-flight check this worker's ``device`` can run, or None when there is
        none (or the app is older than pre-flight checks: it has no such path)."""
        body = protocol.ClaimRequest(worker=worker, device=device)
        response = self.http.post(WorkerPath.PREFLIGHT_CLAIM, json=body.model_dump(mode="json"))
        if response.status_code in (204, 404):
            return None
        if response.status_code >= 400:
            raise RuntimeError(
                f"{WorkerPath.PREFLIGHT_CLAIM}: {response.status_code} {response.text[:500]}"
            )
        return PreflightSpec.model_validate(response.json())

    def report_preflight(self, preflight_id: int, report: PreflightReport) -> None:
        self._post(WorkerPath.PREFLIGHT_REPORT.format(preflight_id=preflight_id), report)

    def fail_preflight(self, preflight_id: int, error: str) -> None:
        body = PreflightFailure(error=error)
        self._post(WorkerPath.PREFLIGHT_FAIL.format(preflight_id=preflight_id), body)

    def manifest(self, version_id: int) -> protocol.DatasetManifest:
        response = self.http.get(WorkerPath.MANIFEST.format(version_id=version_id))
        response.raise_for_status()
        return protocol.DatasetManifest.model_validate(response.json())

    def split(self, version_id: int, split: str) -> list[protocol.DatasetItem]:
        items, after = [], -1
        while True:
            response = self.http.get(
                WorkerPath.SPLIT.format(version_id=version_id, split=split),
                params={"after": after, "limit": 1000},
            )
            response.raise_for_status()
            page = protocol.DatasetSplitPage.model_validate(response.json())
            items.extend(page.items)
            if page.next_cursor is None:
                return items
            after = page.next_cursor

    def inputs(self, job_id: int, attempt: int) -> list[GenerationInput]:
        """Every input of a generation job still to answer (a bootstrap: its examples)."""
        found, after = [], 0
        while True:
            response = self.http.get(
                WorkerPath.INPUTS.format(job_id=job_id),
                params={"attempt": attempt, "after": after},
            )
            if response.status_code >= 400:
                raise RuntimeError(f"inputs: {response.status_code} {response.text[:500]}")
            page = GenerationInputPage.model_validate(response.json())
            found.extend(page.inputs)
            if page.next_cursor is None:
                return found
            after = page.next_cursor

    def generations(self, job_id: int, batch: GenerationBatch) -> GenerationReply:
        response = self._post(WorkerPath.GENERATIONS.format(job_id=job_id), batch)
        return GenerationReply.model_validate(response.json())

    def heartbeat(self, job_id: int, beat: protocol.Heartbeat) -> protocol.HeartbeatReply:
        response = self._post(WorkerPath.HEARTBEAT.format(job_id=job_id), beat)
        return protocol.HeartbeatReply.model_validate(response.json())

    def metrics(self, job_id: int, batch: protocol.MetricBatch) -> None:
        self._post(WorkerPath.METRICS.format(job_id=job_id), batch)

    def logs(self, job_id: int, batch: protocol.LogBatch) -> None:
        self._post(WorkerPath.LOGS.format(job_id=job_id), batch)

    def dynamics(self, job_id: int, attempt: int, points: Sequence[protocol.DynamicsPoint]) -> None:
        for chunk in reports(points, max_rows=protocol.MAX_DYNAMICS_POINTS):
            batch = protocol.DynamicsBatch(attempt=attempt, points=chunk)
            self._post(WorkerPath.DYNAMICS.format(job_id=job_id), batch)

    def predictions(
        self, job_id: int, attempt: int, predictions: Sequence[protocol.Prediction]
    ) -> None:
        for chunk in reports(predictions, max_rows=protocol.MAX_PREDICTIONS):
            batch = protocol.PredictionBatch(attempt=attempt, predictions=chunk)
            self._post(WorkerPath.PREDICTIONS.format(job_id=job_id), batch)

    def complete(self, job_id: int, body: protocol.Completion) -> None:
        self._post(WorkerPath.COMPLETE.format(job_id=job_id), body)

    def fail(self, job_id: int, body: protocol.Failure) -> None:
        self._post(WorkerPath.FAIL.format(job_id=job_id), body)

    def cancelled(self, job_id: int, beat: protocol.Heartbeat) -> None:
        self._post(WorkerPath.CANCELLED.format(job_id=job_id), beat)
