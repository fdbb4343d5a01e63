"""Pre-flight checks through the real HTTP API, as an admin asks for them and a worker takes
and answers them; and a report as a worker would send it."""

from __future__ import annotations

from app.core.job_paths import API_ROOT, WorkerPath
from app.datasets import versions
from tests.api_helpers import bearer
from tests.factories import make_token
from tests.job_factories import project_version

H100 = {
    "kind": "cuda",
    "name": "NVIDIA H100 80GB HBM3",
    "memory_bytes": 85_520_809_984,
    "free_bytes": 84_000_000_000,
    "bf16": True,
    "four_bit": True,
}


def report_body(item_id: int, *, text: str = "Hi", **timing) -> dict:
    """A report of one small example: a context token, then ``text`` and an end token that
    carry the loss; on an H100, 1,240 steps at 0.68 s a step unless ``timing`` says."""
    return {
        "objective": "sft",
        "chat_template": "model",
        "counts": {"items": 10, "learnable": 10, "encoded": 9, "dropped": 1},
        "example": {
            "item_id": item_id,
            "kind": "task",
            "rule": "first_item",
            "tokens": [
                {"id": 7, "text": "User:\n", "loss": False},
                {"id": 8, "text": text, "loss": True},
                {"id": 2, "text": "</s>", "loss": True},
            ],
            "total_tokens": 3,
            "loss_tokens": 2,
        },
        "device": H100,
        "timing": {"timed_steps": 3, "seconds_per_step": 0.68, "total_steps": 1240, **timing},
        "memory": {"peak_bytes": 3 * 1024**3, "source": "cuda_max_allocated"},
        "seconds": 9.5,
    }


class PreflightApi:
    """A project with a frozen version, its admin's bearer headers, and calls of the API."""

    def __init__(self, client, session, name: str = "Pre-flight") -> None:
        self.client, self.session = client, session
        self.project, self.admin_user, self.version = project_version(session, name=name)
        self.admin = bearer(session, self.admin_user)

    def body(self, **params) -> dict:
        return {
            "dataset_version_id": self.version.id,
            "base_model": "tiny",
            "params": {"max_steps": 5, **params},
        }

    def ask(self, headers: dict | None = None, **params):
        return self.client.post(
            f"{API_ROOT}/preflights", headers=headers or self.admin, json=self.body(**params)
        )

    def asked(self, **params) -> int:
        response = self.ask(**params)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def read(self, check_id: int, headers: dict | None = None):
        return self.client.get(f"{API_ROOT}/preflights/{check_id}", headers=headers or self.admin)

    def worker(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(self.session, scope='worker')}"}

    def claim(self, worker: dict[str, str], device: dict | None = None, name: str = "w"):
        return self.client.post(
            API_ROOT + WorkerPath.PREFLIGHT_CLAIM,
            headers=worker,
            json={"worker": name, "device": device},
        )

    def answer(self, worker: dict[str, str], check_id: int, body: dict, *, fail: bool = False):
        path = WorkerPath.PREFLIGHT_FAIL if fail else WorkerPath.PREFLIGHT_REPORT
        return self.client.post(
            API_ROOT + path.format(preflight_id=check_id), headers=worker, json=body
        )

    def train_item(self) -> int:
        return next(
            link.item_id for link, _ in versions.pinned(self.session, self.version.id, "train")
        )
