"""Talks to the app's API with a worker token; payloads are the schemas in app.core.protocol."""

from __future__ import annotations

import httpx

from app.core import protocol


class AppClient:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/") + "/api/v1/worker",
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
        response = self._post("/jobs/claim", protocol.ClaimRequest(worker=worker))
        if response.status_code == 204:
            return None
        return protocol.JobSpec.model_validate(response.json())

    def manifest(self, version_id: int) -> protocol.DatasetManifest:
        response = self.http.get(f"/datasets/{version_id}/manifest")
        response.raise_for_status()
        return protocol.DatasetManifest.model_validate(response.json())

    def split(self, version_id: int, split: str) -> list[protocol.DatasetItem]:
        items, after = [], -1
        while True:
            response = self.http.get(
                f"/datasets/{version_id}/splits/{split}", params={"after": after, "limit": 1000}
            )
            response.raise_for_status()
            page = protocol.DatasetSplitPage.model_validate(response.json())
            items.extend(page.items)
            if page.next_cursor is None:
                return items
            after = page.next_cursor

    def heartbeat(self, job_id: int, beat: protocol.Heartbeat) -> protocol.HeartbeatReply:
        response = self._post(f"/jobs/{job_id}/heartbeat", beat)
        return protocol.HeartbeatReply.model_validate(response.json())

    def metrics(self, job_id: int, batch: protocol.MetricBatch) -> None:
        self._post(f"/jobs/{job_id}/metrics", batch)

    def logs(self, job_id: int, batch: protocol.LogBatch) -> None:
        self._post(f"/jobs/{job_id}/logs", batch)

    def dynamics(self, job_id: int, batch: protocol.DynamicsBatch) -> None:
        self._post(f"/jobs/{job_id}/dynamics", batch)

    def predictions(self, job_id: int, batch: protocol.PredictionBatch) -> None:
        self._post(f"/jobs/{job_id}/predictions", batch)

    def complete(self, job_id: int, body: protocol.Completion) -> None:
        self._post(f"/jobs/{job_id}/complete", body)

    def fail(self, job_id: int, body: protocol.Failure) -> None:
        self._post(f"/jobs/{job_id}/fail", body)

    def cancelled(self, job_id: int, beat: protocol.Heartbeat) -> None:
        self._post(f"/jobs/{job_id}/cancelled", beat)
