"""Workers report their device when they ask for work: the claim keeps one row per worker with
what it said and when, a claim without a device (an older worker) still works, and a worker is
handed only the jobs its device can run."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.core import job_paths
from app.core.devices import WorkerDevice, describe, lacks
from app.core.protocol import JobParams
from app.jobs import queue, workers
from app.models import Job
from app.models import Worker as WorkerRow
from app.models.base import utcnow
from tests.factories import make_token
from tests.job_factories import project_version, worker_token

CLAIM = job_paths.API_ROOT + job_paths.WorkerPath.CLAIM
GIB = 1024**3
H100 = WorkerDevice(
    kind="cuda",
    name="NVIDIA H100 80GB HBM3",
    memory_bytes=80 * GIB,
    free_bytes=79 * GIB,
    bf16=True,
    four_bit=True,
)
T4 = WorkerDevice(kind="cuda", name="Tesla T4", memory_bytes=15 * GIB, bf16=False, four_bit=False)
CPU = WorkerDevice(kind="cpu", name="AMD EPYC 7B13", memory_bytes=24 * GIB, bf16=True)


def _queued(session, version, admin, **params) -> Job:
    """A queued job with ``params`` written as launch would (past its device checks)."""
    job = Job(
        project_id=version.project_id,
        dataset_version_id=version.id,
        base_model="tiny",
        params=JobParams(max_steps=2, **params).model_dump(mode="json"),
        created_by=admin.id,
    )
    session.add(job)
    session.flush()
    return job


class TestTheClaimRecordsTheDevice:
    def test_a_claim_writes_the_workers_row_and_the_next_updates_it(self, client, db_session):
        worker = {"Authorization": f"Bearer {make_token(db_session)}"}
        body = {"worker": "gpu-box:41", "device": H100.model_dump(mode="json")}
        assert client.post(CLAIM, headers=worker, json=body).status_code == 204
        row = db_session.scalar(select(WorkerRow).where(WorkerRow.name == "gpu-box:41"))
        assert (row.device, row.device_name, row.devices) == ("cuda", "NVIDIA H100 80GB HBM3", 1)
        assert (row.memory_bytes, row.free_bytes) == (80 * GIB, 79 * GIB)
        assert row.bf16 and row.four_bit
        first_seen = row.seen_at
        assert utcnow() - first_seen < timedelta(minutes=5)

        busier = {**body, "device": {**body["device"], "free_bytes": 3 * GIB}}
        assert client.post(CLAIM, headers=worker, json=busier).status_code == 204
        db_session.expire_all()
        rows = db_session.scalars(select(WorkerRow)).all()
        assert len(rows) == 1 and rows[0].free_bytes == 3 * GIB
        assert rows[0].seen_at >= first_seen

    def test_a_claim_without_a_device_still_works_and_records_nothing(self, client, db_session):
        _, admin, version = project_version(db_session)
        job = _queued(db_session, version, admin)
        worker = {"Authorization": f"Bearer {make_token(db_session)}"}
        claimed = client.post(CLAIM, headers=worker, json={"worker": "old-worker:7"})
        assert claimed.status_code == 200 and claimed.json()["job_id"] == job.id
        assert db_session.scalar(select(func.count()).select_from(WorkerRow)) == 0

    def test_a_report_out_of_bounds_is_refused_naming_the_field(self, client, db_session):
        worker = {"Authorization": f"Bearer {make_token(db_session)}"}
        device = {**CPU.model_dump(mode="json"), "memory_bytes": -1}
        response = client.post(CLAIM, headers=worker, json={"worker": "w", "device": device})
        assert response.status_code == 422 and "memory_bytes" in response.text
        kind = {**CPU.model_dump(mode="json"), "kind": "tpu"}
        response = client.post(CLAIM, headers=worker, json={"worker": "w", "device": kind})
        assert response.status_code == 422 and "kind" in response.text


class TestAWorkerGetsOnlyWhatItsDeviceRuns:
    def test_a_4bit_job_waits_for_a_worker_that_loads_4bit(self, db_session):
        _, admin, version = project_version(db_session)
        four_bit = _queued(db_session, version, admin, quantization="4bit")
        plain = _queued(db_session, version, admin)
        token = worker_token(db_session)
        # The CPU worker and the one that reports nothing pass over the older 4-bit job.
        got = queue.claim(session=db_session, worker="cpu:1", token_id=token, device=CPU)
        assert got.id == plain.id
        assert queue.claim(session=db_session, worker="old:2", token_id=token) is None
        assert queue.claim(session=db_session, worker="t4:3", token_id=token, device=T4) is None
        got = queue.claim(session=db_session, worker="h100:4", token_id=token, device=H100)
        assert got.id == four_bit.id
        names = set(db_session.scalars(select(WorkerRow.name)))
        assert names == {"cpu:1", "t4:3", "h100:4"}

    def test_a_bf16_job_goes_to_a_device_that_computes_in_bf16(self, db_session):
        _, admin, version = project_version(db_session)
        bf16 = _queued(db_session, version, admin, precision="bf16")
        token = worker_token(db_session)
        assert queue.claim(session=db_session, worker="t4", token_id=token, device=T4) is None
        got = queue.claim(session=db_session, worker="cpu", token_id=token, device=CPU)
        assert got.id == bf16.id

    def test_parameters_stored_without_the_fields_run_anywhere(self, db_session):
        """A job launched before these parameters existed has none of them stored."""
        _, admin, version = project_version(db_session)
        old = _queued(db_session, version, admin)
        old.params = {k: v for k, v in old.params.items() if k not in ("precision", "quantization")}
        db_session.flush()
        got = queue.claim(session=db_session, worker="t4", token_id=worker_token(db_session))
        assert got.id == old.id

    def test_only_workers_seen_within_a_day_count(self, db_session):
        workers.record(session=db_session, name="gone", device=H100)
        workers.record(session=db_session, name="here", device=CPU)
        gone = db_session.scalar(select(WorkerRow).where(WorkerRow.name == "gone"))
        gone.seen_at = utcnow() - workers.SEEN_WITHIN - timedelta(minutes=1)
        db_session.flush()
        assert [w.name for w in workers.seen(session=db_session)] == ["here"]


class TestTheRule:
    def test_what_each_device_lacks(self):
        qlora = JobParams(quantization="4bit", precision="bf16")
        assert lacks(qlora, H100) == []
        assert lacks(qlora, T4) == ["four_bit", "bf16"]
        assert lacks(qlora, CPU) == ["four_bit"]
        assert lacks(qlora, None) == ["four_bit", "bf16"]
        assert lacks(JobParams(), None) == []  # the defaults run anywhere

    def test_a_device_in_a_few_words(self):
        assert describe(CPU) == "CPU (AMD EPYC 7B13, 24 GiB)"
        assert describe(T4) == "CUDA Tesla T4 (15 GiB, no bf16, no bitsandbytes)"
        pair = H100.model_copy(update={"devices": 2})
        assert describe(pair) == "2 × CUDA NVIDIA H100 80GB HBM3 (80 GiB each, bf16, 4-bit)"
