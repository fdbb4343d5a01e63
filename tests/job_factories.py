"""A job that ran to the end, written through the worker protocol's services: metrics, logs,
training dynamics and eval predictions, as a real worker would have reported them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core import constraints, job_paths, metrics, protocol
from app.core.kinds import ItemContent
from app.datasets import freezing, versions
from app.datasets.versions import VersionFilter
from app.jobs import queue
from app.jobs import service as jobs
from tests.dataset_factories import approved_project


def scores(refs: list[dict], reference: str, base: str, tuned: str) -> dict:
    out = {}
    for side, text in (("base", base), ("tuned", tuned)):
        row = dict(metrics.text_scores(text, reference))
        if refs:
            verdicts = [v.passed for _, v in constraints.check_all(refs, text)]
            row["constraints_passed"] = sum(verdicts) / len(verdicts)
            row["prompt_passed"] = float(all(verdicts))
        out.update({f"{side}_{k}": v for k, v in row.items()})
    return out


def worker_token(session: Session, name: str = "w") -> int:
    """The id of a new worker token."""
    from app.tokens import service as tokens

    return tokens.create_token(
        session=session, name=name, scope="worker", owner=None, actor=None
    ).token.id


def project_version(
    session: Session, name: str = "Jobs UI", *, drafts=None, eval_fraction: float = 0.34
):
    """A project whose ``drafts`` (the dataset factories' mix by default) are approved, and
    its version "v1" with ``eval_fraction`` of them in the eval split."""
    project, admin, _ = approved_project(
        session, name=name, **({"drafts": drafts} if drafts is not None else {})
    )
    version = freezing.create_version(
        session=session,
        project=project,
        name="v1",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=eval_fraction,
    )
    return project, admin, version


def run_job(
    session: Session,
    version,
    admin,
    *,
    hard: set[int] = frozenset(),
    finish: bool = True,
    losses: tuple[float, ...] = (3.0, 2.5, 2.1, 1.8, 1.6, 1.5),
):
    """Launch, claim and report a job; `hard` training items keep a low confidence."""
    job = jobs.launch(
        session=session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(max_steps=len(losses), eval_interval=3),
        actor=admin,
    )
    session.flush()
    token = worker_token(session)
    claimed = queue.claim(session=session, worker="test-host:1", token_id=token)
    assert claimed is not None and claimed.id == job.id
    attempt = claimed.attempts
    queue.heartbeat(
        session=session,
        job_id=job.id,
        beat=protocol.Heartbeat(attempt=attempt, step=2, epoch=0.5, total_steps=len(losses)),
        token_id=token,
        artifacts_root="unused: no checkpoint is reported",
    )
    points = [
        protocol.MetricPoint(step=i + 1, name="train/loss", value=v) for i, v in enumerate(losses)
    ]
    points += [
        protocol.MetricPoint(step=i + 1, name="train/lr", value=1e-3 * (1 - i / len(losses)))
        for i in range(len(losses))
    ]
    points += [
        protocol.MetricPoint(step=i + 1, name="train/tokens_per_s", value=1234.0)
        for i in range(len(losses))
    ]
    points += [
        protocol.MetricPoint(step=i + 1, name="train/epoch", value=(i + 1) / 2)
        for i in range(len(losses))
    ]
    points += [
        protocol.MetricPoint(step=s, name="eval/loss", value=losses[s - 1] + 0.2)
        for s in range(3, len(losses) + 1, 3)
    ]
    queue.record_metrics(
        session=session,
        job_id=job.id,
        batch=protocol.MetricBatch(attempt=attempt, points=points),
        token_id=token,
    )
    queue.record_logs(
        session=session,
        job_id=job.id,
        batch=protocol.LogBatch(attempt=attempt, lines=["dataset loaded", "step 6 loss 1.5"]),
        token_id=token,
    )
    pinned = list(versions.pinned(session, version.id))
    train = [link.item_id for link, _ in pinned if link.split == "train"]
    dynamics = []
    for epoch in (1, 2, 3):
        for n, item_id in enumerate(train):
            if item_id in hard:
                confidence = 0.05 + 0.01 * epoch
            else:
                confidence = min(0.95, 0.5 + 0.1 * epoch + 0.01 * (n % 3))
            dynamics.append(
                protocol.DynamicsPoint(
                    item_id=item_id, epoch=epoch, loss=-0.5 * confidence + 1, confidence=confidence
                )
            )
    queue.record_dynamics(
        session=session,
        job_id=job.id,
        batch=protocol.DynamicsBatch(attempt=attempt, points=dynamics),
        token_id=token,
    )
    predictions = []
    for link, revision in pinned:
        if link.split != "eval":
            continue
        content = ItemContent.from_row(revision.snapshot)
        refs = [c.model_dump() for c in content.constraints]
        base = "no idea"
        # The tuned model gets tasks right and breaks the no-comma rule.
        tuned = content.output if content.kind != "constraint" else "red, blue, and green"
        predictions.append(
            protocol.Prediction(
                item_id=link.item_id,
                kind=content.kind,
                reference=content.output,
                base_output=base,
                tuned_output=tuned,
                scores=scores(refs, content.output, base, tuned),
            )
        )
    queue.record_predictions(
        session=session,
        job_id=job.id,
        batch=protocol.PredictionBatch(attempt=attempt, predictions=predictions),
        token_id=token,
    )
    if finish:
        queue.finish(
            session=session,
            job_id=job.id,
            attempt=attempt,
            token_id=token,
            status="succeeded",
            metrics={
                "eval_loss": 1.7,
                "tuned_f1": 0.8,
                "tuned_rouge_l": 0.75,
                "steps": len(losses),
            },
        )
    session.flush()
    return job, train


def train_only_version(session: Session, *, train_items: int, name: str):
    """A version of ``train_items`` approved task items, all in the training split."""
    from app.items.schemas import ItemDraft

    drafts = [
        ItemDraft(
            kind="task",
            instruction=f"Count to {i + 1} in French.",
            output=" ".join(["un", "deux", "trois", "quatre"][: i % 4 + 1]),
        )
        for i in range(train_items)
    ]
    project, admin, _ = approved_project(session, drafts=drafts, name=name)
    return freezing.create_version(
        session=session, project=project, name="v", f=VersionFilter(), actor=admin, eval_fraction=0
    )


def queued_job(session: Session, params: protocol.JobParams, *, name: str):
    """A committed tiny job on a fresh version of approved items, and a worker token: what a
    live worker test starts from. Returns (version, admin, job, raw token)."""
    from app.tokens import service as tokens

    project, admin, _ = approved_project(session, name=name)
    version = freezing.create_version(
        session=session,
        project=project,
        name="v",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=0.2,
    )
    job = jobs.launch(
        session=session, version_id=version.id, base_model="tiny", params=params, actor=admin
    )
    token = tokens.create_token(
        session=session, name="w", scope="worker", owner=None, actor=None
    ).raw
    session.commit()
    return version, admin, job, token


class WorkerApi:
    """Jobs through the real HTTP API, as an admin launches them and workers claim and report:
    what the attacks on the worker boundary start from."""

    def __init__(self, client, session: Session, name: str = "Worker boundary") -> None:
        from tests.factories import make_token

        self.client, self.session = client, session
        self.project, self.admin_user, self.version = project_version(session, name=name)
        token = make_token(session, scope="user", owner=self.admin_user)
        self.admin = {"Authorization": f"Bearer {token}"}

    def worker(self) -> dict[str, str]:
        """The headers of a new worker token."""
        from tests.factories import make_token

        return {"Authorization": f"Bearer {make_token(self.session, scope='worker')}"}

    def launch(self, version_id: int | None = None, base_model: str = "tiny"):
        return self.client.post(
            job_paths.API_ROOT + "/jobs",
            headers=self.admin,
            json={
                "dataset_version_id": version_id or self.version.id,
                "base_model": base_model,
                "params": {"max_steps": 5},
            },
        )

    def launched(self, version_id: int | None = None) -> int:
        response = self.launch(version_id)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def claim(self, worker: dict[str, str], name: str = "w") -> dict:
        path = job_paths.API_ROOT + job_paths.WorkerPath.CLAIM
        response = self.client.post(path, headers=worker, json={"worker": name})
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, worker: dict[str, str], job_id: int, body):
        """A worker call about ``job_id``; a ``str`` body is sent as raw JSON text (the only
        way NaN and Infinity reach the app)."""
        url = job_paths.API_ROOT + path.format(job_id=job_id)
        if isinstance(body, str):
            headers = {**worker, "Content-Type": "application/json"}
            return self.client.post(url, headers=headers, content=body)
        return self.client.post(url, headers=worker, json=body)

    def read(self, worker: dict[str, str], version_id: int, what: str = "manifest"):
        """A worker reads a dataset version: its manifest or its ``train`` split."""
        if what == "manifest":
            path = job_paths.WorkerPath.MANIFEST.format(version_id=version_id)
        else:
            path = job_paths.WorkerPath.SPLIT.format(version_id=version_id, split=what)
        return self.client.get(job_paths.API_ROOT + path, headers=worker)


def error_sentence(response) -> str:
    """What an error answer tells the caller: the domain error's sentence, or each field's
    message."""
    detail = response.json()["detail"]
    if isinstance(detail, list):
        return "; ".join(f"{d['field']}: {d['message']}" for d in detail)
    return detail
