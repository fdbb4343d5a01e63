"""Talks to the app's API with a worker token; payloads and paths are in app.core.protocol."""

from __future__ import annotations

import httpx

from app.core import protocol
from app.core.protocol import WorkerPath


class AppClient:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/") + protocol.API_ROOT,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def _post(self, path: str, body) -> httpx.Response:
        data = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
        response = self.http.post(path, json=data)
        if response.status_code >= 400:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:500]}")
        return response

    def claim(self, worker: str) -> protocol.JobSpec | None:
        response = self._post(WorkerPath.CLAIM, protocol.ClaimRequest(worker=worker))
        if response.status_code == 204:
            return None
        return protocol.JobSpec.model_validate(response.json())

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

    def heartbeat(self, job_id: int, beat: protocol.Heartbeat) -> protocol.HeartbeatReply:
        response = self._post(WorkerPath.HEARTBEAT.format(job_id=job_id), beat)
        return protocol.HeartbeatReply.model_validate(response.json())

    def metrics(self, job_id: int, batch: protocol.MetricBatch) -> None:
        self._post(WorkerPath.METRICS.format(job_id=job_id), batch)

    def logs(self, job_id: int, batch: protocol.LogBatch) -> None:
        self._post(WorkerPath.LOGS.format(job_id=job_id), batch)

    def dynamics(self, job_id: int, batch: protocol.DynamicsBatch) -> None:
        self._post(WorkerPath.DYNAMICS.format(job_id=job_id), batch)

    def predictions(self, job_id: int, batch: protocol.PredictionBatch) -> None:
        self._post(WorkerPath.PREDICTIONS.format(job_id=job_id), batch)

    def complete(self, job_id: int, body: protocol.Completion) -> None:
        self._post(WorkerPath.COMPLETE.format(job_id=job_id), body)

    def fail(self, job_id: int, body: protocol.Failure) -> None:
        self._post(WorkerPath.FAIL.format(job_id=job_id), body)

    def cancelled(self, job_id: int, beat: protocol.Heartbeat) -> None:
        self._post(WorkerPath.CANCELLED.format(job_id=job_id), beat)
