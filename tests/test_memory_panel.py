"""The launch form's memory panel: the estimate's table for the chosen settings, from the
base model's config.json read offline (the tiny preset's, a local folder's, a cached hub
model's), set against the workers that reported in lately."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from app.core import architecture, base_models, memory
from app.core.protocol import JobParams
from app.jobs import estimate, memory_fit, model_config
from app.jobs import service as jobs
from app.models import Worker
from app.models.base import utcnow
from tests.helpers import login
from tests.job_factories import project_version

HX = {"HX-Request": "true"}
GIB = 1024**3
# Llama 3.1 8B's shape: a full fine-tune of it fits no single GPU.
EIGHT_B = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "tie_word_embeddings": False,
}  # fmt: skip
QWEN_05B = {
    "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
    "vocab_size": 151936, "tie_word_embeddings": True,
}  # fmt: skip


@pytest.fixture
def setup(db_session):
    return project_version(db_session)


@pytest.fixture
def no_hub_cache(monkeypatch, tmp_path):
    """An empty Hugging Face cache, whatever this machine holds."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return tmp_path / "hf-home" / "hub"


def worker(session, name="gpu-1", *, memory_gib=80, free_gib=75, seen=timedelta(0), **kw):
    row = Worker(
        name=name,
        device=kw.pop("device", "cuda"),
        device_name=kw.pop("device_name", "NVIDIA H100 80GB HBM3"),
        memory_bytes=memory_gib * GIB,
        free_bytes=None if free_gib is None else free_gib * GIB,
        bf16=kw.pop("bf16", True),
        four_bit=kw.pop("four_bit", False),
        seen_at=utcnow() - seen,
    )
    session.add(row)
    session.flush()
    return row


def _form(csrf, version, **fields):
    return {
        "csrf_token": csrf,
        "dataset_version_id": version.id,
        "base_model": "tiny",
        "epochs": "1",
        **fields,
    }


def _cell(page: str, key: str) -> str:
    return re.search(rf'id="memory-{key}">([^<]*)<', page).group(1)


class TestTable:
    def test_the_tiny_preset_shows_each_part_and_no_worker_yet(self, client, db_session, setup):
        _, admin, version = setup
        login(client, admin.email)
        page = client.get("/jobs/new", params={"version_id": version.id}).text
        assert 'id="memory-table"' in page and 'id="memory-bar"' in page
        # The tiny preset is a full fine-tune: fp32 master weights of the tiny Llama, counted
        # at its vocabulary's upper bound.
        tiny = architecture.from_config(base_models.tiny_config())
        assert _cell(page, "weights") == memory_fit.size(4 * tiny.parameters().total)
        assert _cell(page, "gradients") == memory_fit.size(4 * tiny.parameters().total)
        assert _cell(page, "optimizer") == memory_fit.size(8 * tiny.parameters().total)
        for key in ("activations", "total"):
            assert re.fullmatch(r"[\d,.]+ (MiB|GiB)", _cell(page, key)), key
        assert "counted at its upper bound" in page
        assert "No worker has reported in yet." in page

    def test_the_table_follows_the_form(self, client, db_session, setup):
        _, admin, version = setup
        csrf = login(client, admin.email)
        full = {"method": "full"}
        small = client.post("/jobs/estimate", headers=HX, data=_form(csrf, version, **full))
        large = client.post(
            "/jobs/estimate", headers=HX, data=_form(csrf, version, batch_size="64", **full)
        )
        assert small.status_code == large.status_code == 200
        assert _cell(small.text, "weights") == _cell(large.text, "weights")
        assert _cell(small.text, "activations") != _cell(large.text, "activations")
        lora = client.post("/jobs/estimate", headers=HX, data=_form(csrf, version, method="lora"))
        assert _cell(lora.text, "gradients") != _cell(small.text, "gradients")

    def test_the_memory_and_precision_fields_change_it(self, client, db_session, setup):
        _, admin, version = setup
        csrf = login(client, admin.email)

        def panel(**fields):
            data = _form(csrf, version, method="lora", **fields)
            return client.post("/jobs/estimate", headers=HX, data=data).text

        on, off = panel(gradient_checkpointing="on"), panel(gradient_checkpointing="off")
        assert "Gradient checkpointing is on" in on and "Gradient checkpointing is off" in off
        assert _cell(on, "activations") != _cell(off, "activations")
        bf16, fp32 = panel(precision="bf16"), panel(precision="fp32")
        assert "Computes in bf16." in bf16 and "Computes in fp32." in fp32
        tiny = architecture.from_config(base_models.tiny_config()).parameters().total
        adapter = int(re.search(r"([\d,]+) of them trained", bf16).group(1).replace(",", ""))
        assert _cell(bf16, "weights") == memory_fit.size(2 * tiny + 4 * adapter)
        assert _cell(fp32, "weights") == memory_fit.size(4 * tiny + 4 * adapter)

    def test_four_bit_is_set_against_workers_that_load_it(self, client, db_session, setup):
        worker(db_session, "no-bnb", four_bit=False)
        _, admin, version = setup
        csrf = login(client, admin.email)
        data = _form(csrf, version, method="lora", quantization="4bit")
        page = client.post("/jobs/estimate", headers=HX, data=data).text
        assert "No worker that reported in can load 4-bit weights" in page
        assert "Fits on" not in page

    def test_a_hub_model_without_a_cached_config_has_no_estimate(
        self, client, db_session, setup, no_hub_cache
    ):
        _, admin, version = setup
        csrf = login(client, admin.email)
        data = _form(csrf, version, base_model="Qwen/Qwen2.5-0.5B-Instruct")
        page = client.post("/jobs/estimate", headers=HX, data=data).text
        assert "No estimate: the base model" in page
        assert "config.json is not available offline." in page
        assert 'id="memory-table"' not in page

    def test_a_cached_hub_config_is_read_from_the_snapshot_main_names(
        self, client, db_session, setup, no_hub_cache
    ):
        folder = no_hub_cache / "models--Qwen--Qwen2.5-0.5B-Instruct"
        (folder / "refs").mkdir(parents=True)
        (folder / "refs" / "main").write_text("abc123")
        for commit, config in (("abc123", QWEN_05B), ("old", {**QWEN_05B, "vocab_size": 10})):
            (folder / "snapshots" / commit).mkdir(parents=True)
            (folder / "snapshots" / commit / "config.json").write_text(json.dumps(config))
        _, admin, version = setup
        csrf = login(client, admin.email)
        data = _form(csrf, version, base_model="Qwen/Qwen2.5-0.5B-Instruct", method="lora")
        page = client.post("/jobs/estimate", headers=HX, data=data).text
        # LoRA in bf16 (no worker yet: as on a GPU with bf16) holds the base in bf16.
        params = architecture.from_config(QWEN_05B).parameters().total
        assert 494_000_000 < params < 495_000_000  # Qwen2.5-0.5B's 494M
        assert re.search(rf"{params:,} parameters", page)
        assert "counted as on a GPU that computes in bf16" in page

    def test_a_local_model_is_read_inside_the_model_roots_only(
        self, client, app, db_session, setup, tmp_path
    ):
        root = tmp_path / "models"
        (root / "eight").mkdir(parents=True)
        (root / "eight" / "config.json").write_text(json.dumps(EIGHT_B))
        _, admin, version = setup
        csrf = login(client, admin.email)
        data = _form(csrf, version, base_model=str(root / "eight"))
        refused = client.post("/jobs/estimate", headers=HX, data=data).text
        assert "No estimate" in refused  # no model roots are set
        app.state.settings.model_roots = [root]
        page = client.post("/jobs/estimate", headers=HX, data=data).text
        assert "8,030,261,248 parameters" in page  # Llama 3.1 8B

    def test_an_architecture_it_cannot_count_is_named(
        self, client, app, db_session, setup, tmp_path
    ):
        (tmp_path / "phi").mkdir()
        (tmp_path / "phi" / "config.json").write_text(json.dumps({"model_type": "phi3"}))
        app.state.settings.model_roots = [tmp_path]
        _, admin, version = setup
        csrf = login(client, admin.email)
        data = _form(csrf, version, base_model=str(tmp_path / "phi"))
        page = client.post("/jobs/estimate", headers=HX, data=data).text
        assert "architecture (phi3) is not one the estimate can count" in page

    def test_a_continued_job_is_counted_on_its_parents_base_model(
        self, client, db_session, setup, no_hub_cache
    ):
        _, admin, version = setup
        parent = jobs.launch(
            session=db_session,
            version_id=version.id,
            base_model="tiny",
            params=JobParams(max_steps=1),
            actor=admin,
        )
        parent.base_model = "Org/not-cached"  # the read-only field still says tiny
        db_session.flush()
        csrf = login(client, admin.email)
        data = _form(csrf, version, start_job_id=str(parent.id))
        assert "No estimate" in client.post("/jobs/estimate", headers=HX, data=data).text


class TestWorkers:
    def test_it_fits_the_workers_with_room(self, client, db_session, setup):
        worker(db_session, "big", memory_gib=80, free_gib=75)
        worker(db_session, "cpu", device="cpu", device_name="AMD EPYC", memory_gib=64,
               free_gib=None, bf16=False)  # fmt: skip
        worker(db_session, "gone", device_name="OLD GPU", seen=timedelta(days=2))
        _, admin, version = setup
        login(client, admin.email)
        page = client.get("/jobs/new", params={"version_id": version.id}).text
        assert "Fits on NVIDIA H100 80GB HBM3 (80.0 GiB, 75.0 GiB free now)." in page
        assert "Fits on AMD EPYC (64.0 GiB)." in page
        assert "No worker has reported in yet." not in page and "OLD GPU" not in page

    def test_too_large_says_by_how_much_and_what_to_change(
        self, client, app, db_session, setup, tmp_path
    ):
        (tmp_path / "eight").mkdir()
        (tmp_path / "eight" / "config.json").write_text(json.dumps(EIGHT_B))
        app.state.settings.model_roots = [tmp_path]
        worker(db_session, "small", memory_gib=24, free_gib=20, device_name="RTX 4090")
        worker(db_session, "tiny", memory_gib=8, free_gib=8, device_name="RTX 3070")
        _, admin, version = setup
        csrf = login(client, admin.email)
        data = _form(csrf, version, base_model=str(tmp_path / "eight"), method="full")
        page = client.post("/jobs/estimate", headers=HX, data=data).text
        need = re.search(
            r"Needs about ([\d,.]+) GiB; the largest worker reported has 24.0 GiB, "
            r"of which a job can use about 21.6 GiB",
            page,
        )
        assert need and float(need.group(1).replace(",", "")) > 100  # 16 bytes a parameter
        remedies = page.split('id="memory-remedies"')[1].split("</ul>")[0]
        assert "lower the batch size or the maximum sequence length" in remedies
        assert "use LoRA instead of full fine-tuning" in remedies
        assert "gradient checkpointing" not in remedies  # on already, for 1B parameters and up
        assert "Fits on" not in page

    def test_a_device_name_is_escaped(self, client, db_session, setup):
        worker(db_session, "odd", device_name="<b>GPU</b>")
        _, admin, version = setup
        login(client, admin.email)
        page = client.get("/jobs/new", params={"version_id": version.id}).text
        assert "Fits on &lt;b&gt;GPU&lt;/b&gt;" in page and "<b>GPU</b>" not in page

    def test_auto_precision_counts_each_worker_as_it_would_run(self, db_session, tmp_path):
        """bf16 on a CUDA GPU that has it, fp32 elsewhere: a LoRA job's frozen base is half the
        size on the first."""
        (tmp_path / "qwen").mkdir()
        (tmp_path / "qwen" / "config.json").write_text(json.dumps(QWEN_05B))
        worker(db_session, "a100", memory_gib=40)
        worker(db_session, "v100", memory_gib=16, bf16=False)
        got = memory_fit.panel(
            db_session,
            base_model=str(tmp_path / "qwen"),
            params=JobParams(method="lora"),
            micro_batch=(8, 512),
            model_roots=[tmp_path],
        )
        by_name = {f.worker.name: f for f in got.workers}
        assert got.estimate.bf16 and got.counted_for.name == "a100"  # the largest
        arch = architecture.from_config(QWEN_05B)
        for name, bf16 in (("a100", True), ("v100", False)):
            expected = memory.estimate(arch, JobParams(method="lora"), memory.MicroBatch(8, 512),
                                       bf16=bf16)  # fmt: skip
            assert by_name[name].need == expected.total
        assert by_name["v100"].need > by_name["a100"].need

    def test_a_four_bit_job_is_set_against_the_workers_that_load_four_bit(self, db_session):
        worker(db_session, "no-bnb", four_bit=False)
        params = JobParams(method="lora", quantization="4bit")
        got = memory_fit.panel(
            db_session, base_model="tiny", params=params, micro_batch=(1, 64), model_roots=[]
        )
        assert got.reported == 1 and got.workers == []
        worker(db_session, "bnb", four_bit=True)
        got = memory_fit.panel(
            db_session, base_model="tiny", params=params, micro_batch=(1, 64), model_roots=[]
        )
        assert [f.worker.name for f in got.fitting] == ["bnb"]


class TestMicroBatch:
    """The estimate's micro-batch is the largest one the trainer collates."""

    @pytest.mark.parametrize("max_seq_len", [64, 256])
    def test_packed_is_the_trainers_largest_collated_batch(self, max_seq_len):
        pytest.importorskip("torch")
        import random

        from trainer.data import Example
        from trainer.train import sft_batches

        rng = random.Random(3)
        lengths = [rng.randint(5, max_seq_len) for _ in range(90)]
        examples = [Example([1] * n, [1] * n) for n in lengths]
        params = JobParams(batch_size=6, max_seq_len=max_seq_len, epochs=1)
        collated = sft_batches(examples, params, 0, "bool").all()
        shapes = [tuple(b["input_ids"].shape) for b in collated]
        largest = max(shapes, key=lambda s: (s[0] * s[1], s[1]))
        assert estimate.epoch_layout(lengths, len(lengths), params).micro_batch == largest

    def test_unpacked_and_dpo_take_the_worst_case(self):
        params = JobParams(batch_size=6, max_seq_len=300, packing=False, epochs=1)
        assert estimate.epoch_layout([10, 20], 2, params).micro_batch == (6, 300)
        assert estimate.epoch_layout([None], 1, JobParams(batch_size=3)).micro_batch == (3, 512)


class TestConfigFiles:
    def test_the_hub_cache_follows_huggingface_hubs_rule(self, monkeypatch, tmp_path):
        for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        assert model_config.hub_cache() == tmp_path / ".cache" / "huggingface" / "hub"
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert model_config.hub_cache() == tmp_path / "xdg" / "huggingface" / "hub"
        monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
        assert model_config.hub_cache() == tmp_path / "home" / "hub"
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
        assert model_config.hub_cache() == tmp_path / "cache"

    def test_a_bad_config_file_is_no_config(self, tmp_path):
        path = tmp_path / "config.json"
        for text in ("not json", "[1, 2]", " " * (model_config.MAX_CONFIG_BYTES + 1)):
            path.write_text(text)
            assert model_config.read_config(path) is None
        assert model_config.read_config(tmp_path / "missing.json") is None

    def test_a_refused_path_is_not_read(self, tmp_path):
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "config.json").write_text(json.dumps(QWEN_05B))
        roots = [tmp_path / "m"]
        assert model_config.base_config(str(tmp_path / "m"), model_roots=roots) == QWEN_05B
        assert model_config.base_config(f"{tmp_path}/m/../m", model_roots=roots) is None
        assert model_config.base_config(str(tmp_path), model_roots=roots) is None
