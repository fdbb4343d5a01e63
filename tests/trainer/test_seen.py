"""What a job sets the tuned model beside: the starting model's eval loss, measured before
training by the code that measures the tuned one, and a seed-drawn sample of the training
prompts ("seen"), generated on and scored by both models and reported as predictions of split
'train', with their means apart from the eval ones."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from app.core import protocol
from app.core.job_paths import JobFolder
from app.core.kinds import ItemContent
from trainer.baseline import SEEN_MAX, seen_sample
from trainer.evaluate import evaluate_loss
from trainer.job import pair_summary, run_job
from trainer.train import make_objective, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg
from .test_reports import Recording


def _items(contents, split: str, first_id: int) -> list[protocol.DatasetItem]:
    return [
        protocol.DatasetItem(item_id=first_id + i, revision=1, split=split, content=c)
        for i, c in enumerate(contents)
    ]


class InProcess(Recording):
    """The worker's client with the version's items in memory and every report recorded."""

    def __init__(self, train: list[protocol.DatasetItem], held_out: list[protocol.DatasetItem]):
        super().__init__()
        self.splits = {"train": train, "eval": held_out}

    def manifest(self, version_id: int) -> protocol.DatasetManifest:
        from app.core import manifest

        train, held_out = self.splits["train"], self.splits["eval"]
        return protocol.DatasetManifest(
            version_id=version_id,
            name="v1",
            project_id=1,
            manifest_hash=manifest.received_hash(train + held_out),
            seed=0,
            eval_fraction=0.2,
            train_count=len(train),
            eval_count=len(held_out),
        )

    def split(self, version_id: int, split: str) -> list[protocol.DatasetItem]:
        return list(self.splits[split])

    def predictions_sent(self) -> list[protocol.Prediction]:
        return [p for path, b in self.sent if path.endswith("/predictions") for p in b.predictions]

    def completion(self) -> protocol.Completion:
        [done] = [b for path, b in self.sent if path.endswith("/complete")]
        return done


WORDS = ["apple", "river", "stone", "cloud", "green", "seven", "quiet", "paper", "north", "salt"]
TASKS = [
    ItemContent(kind="task", instruction=f"Say the word number {i} twice.", output=f"{w} {w}")
    for i, w in enumerate(WORDS)
]
HELD_OUT = [
    ItemContent(kind="task", instruction="Say the word number 11 twice.", output="lamp lamp"),
    ItemContent(kind="task", instruction="Say the word number 12 twice.", output="door door"),
]


class TestSeenSample:
    def test_the_rule(self):
        items = _items(TASKS + TASKS, "train", 1)  # 20 items
        sample = seen_sample(items, seed=3)
        assert len(sample) == SEEN_MAX == 8
        ids = [i.item_id for i in sample]
        assert ids == sorted(ids)  # in the split's order
        assert seen_sample(items, seed=3) == sample  # the same seed, the same sample
        assert {tuple(i.item_id for i in seen_sample(items, seed=s)) for s in range(5)} != {
            tuple(ids)
        }
        few = items[:5]
        assert seen_sample(few, seed=3) == few  # no more than that: all of them


@pytest.fixture(scope="module")
def job_run(tmp_path_factory):
    """One SFT job through the worker's own code, the app replaced by ``InProcess``."""
    train_items, held_out = _items(TASKS, "train", 1), _items(HELD_OUT, "eval", 100)
    params = protocol.JobParams(
        method="full",
        max_steps=24,
        learning_rate=5e-3,
        batch_size=4,
        warmup_ratio=0.0,
        eval_interval=100,
        seed=3,
        generation={"max_new_tokens": 6},
    )
    folder = tmp_path_factory.mktemp("seen-job")
    spec = protocol.JobSpec(
        job_id=7,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=params,
        lease_seconds=120,
        artifact_dir=str(folder),
    )
    client = InProcess(train_items, held_out)
    run_job(client, spec)
    return spec, client, train_items, held_out


class TestAJobReports:
    def test_the_starting_models_eval_loss_beside_the_tuned_ones(self, job_run):
        spec, client, train_items, held_out = job_run
        metrics = client.completion().metrics
        # The tiny base model the job built and started from stays in its folder, untouched.
        base = AutoModelForCausalLM.from_pretrained(JobFolder(Path(spec.artifact_dir)).base)
        contents = [i.content for i in held_out]
        expected = evaluate_loss(base, _tokenizer(spec), contents, spec.params)
        assert metrics["base_eval_loss"] == pytest.approx(expected, rel=1e-5)
        assert metrics["eval_loss"] != pytest.approx(metrics["base_eval_loss"], rel=1e-3)

    def test_seen_predictions_of_split_train(self, job_run):
        spec, client, train_items, held_out = job_run
        sent = client.predictions_sent()
        held = [p for p in sent if p.split == "eval"]
        seen = [p for p in sent if p.split == "train"]
        assert [p.item_id for p in held] == [i.item_id for i in held_out]
        expected = seen_sample(train_items, seed=spec.params.seed)
        assert [p.item_id for p in seen] == [i.item_id for i in expected]
        assert len(seen) == SEEN_MAX
        by_id = {i.item_id: i for i in train_items}
        assert all(p.reference == by_id[p.item_id].content.output for p in seen)

    def test_seen_means_apart_from_the_eval_ones(self, job_run):
        spec, client, train_items, held_out = job_run
        metrics = client.completion().metrics
        sent = client.predictions_sent()
        for split, prefix in (("eval", ""), ("train", "seen_")):
            chosen = [p for p in sent if p.split == split]
            for side in ("base", "tuned"):
                for name in ("exact_match", "f1", "rouge_l"):
                    mean = sum(p.scores[f"{side}_{name}"] for p in chosen) / len(chosen)
                    assert metrics[f"{prefix}{side}_{name}"] == pytest.approx(mean)
        # Both models' loss on the seen prompts: training on them brings it down.
        base = AutoModelForCausalLM.from_pretrained(JobFolder(Path(spec.artifact_dir)).base)
        seen = [i.content for i in seen_sample(train_items, seed=spec.params.seed)]
        expected = evaluate_loss(base, _tokenizer(spec), seen, spec.params)
        assert metrics["seen_base_loss"] == pytest.approx(expected, rel=1e-5)
        assert metrics["seen_tuned_loss"] < metrics["seen_base_loss"]
        assert len(metrics) <= protocol.MAX_SCORES


def _tokenizer(spec):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(JobFolder(Path(spec.artifact_dir)).base)


def test_a_dpo_jobs_starting_loss_is_its_reference_pass(tiny_dir, tokenizer):
    """Before its first step the policy is the reference, so each eval pair's loss is log 2."""
    cfg = dpo_cfg(max_steps=3, batch_size=2, learning_rate=5e-3)
    objective = make_objective(tokenizer, list(PAIRS[:4]), cfg, eval_contents=list(PAIRS[4:]))
    model = load_model(tiny_dir)
    result = train(model, tokenizer, objective, cfg)
    figures = pair_summary(objective, result.model)
    assert figures["base_eval_loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert figures["eval_loss"] != pytest.approx(math.log(2), abs=1e-4)


def test_the_card_sets_the_starting_model_and_the_seen_prompts_beside_the_tuned(tmp_path):
    from trainer.modelcard import render_model_card

    spec = protocol.JobSpec(
        job_id=7,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=protocol.JobParams(method="full"),
        lease_seconds=120,
        artifact_dir=str(tmp_path),
    )
    summary = {
        "eval_loss": 1.5,
        "base_eval_loss": 2.0,
        "base_f1": 0.1,
        "tuned_f1": 0.2,
        "seen_base_f1": 0.1,
        "seen_tuned_f1": 0.9,
        "seen_base_loss": 2.5,
        "seen_tuned_loss": 0.25,
    }
    card = render_model_card(spec, summary, train_count=40, eval_count=8)
    rows: dict[str, list[str]] = {}
    for line in card.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows.setdefault(cells[0], cells[1:])  # the first row of a name
    assert rows["Starting model's eval loss"] == ["2.0000"]
    assert rows["Starting model's perplexity"] == [f"{math.exp(2.0):.4f}"]
    assert rows["Token F1"] == ["0.1000", "0.2000", "+0.1000"]  # the held-out one comes first
    seen = card.split("| Seen in training |")[1]
    assert "| Token F1 | 0.1000 | 0.9000 | +0.8000 |" in seen
    assert "| Loss | 2.5000 | 0.2500 | -2.2500 |" in seen
    plain = render_model_card(spec, {"eval_loss": 1.5}, train_count=40, eval_count=8)
    assert "Starting model" not in plain and "Seen in training" not in plain


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_the_starting_model_is_measured_in_the_jobs_precision(tiny_dir, tokenizer, precision):
    """Base and tuned eval loss come from the same computation: a job asking for bf16 on this
    CPU measures its starting model under bf16 autocast too, as the tuned one is measured."""
    import torch

    from trainer import precision as rule
    from trainer.baseline import measure_start

    params = protocol.JobParams(method="full", precision=precision)
    spec = protocol.JobSpec(
        job_id=1,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=params,
        lease_seconds=60,
        artifact_dir=str(tiny_dir),
    )
    held_out = _items(HELD_OUT, "eval", 100)
    found = measure_start(spec, load_model(tiny_dir), tokenizer, eval_items=held_out, seen_items=[])
    as_trained = load_model(tiny_dir)
    rule.mark(as_trained, params, torch.device("cpu"))
    expected = evaluate_loss(as_trained, tokenizer, HELD_OUT, params)
    assert found.eval_loss == expected
    plain = evaluate_loss(load_model(tiny_dir), tokenizer, HELD_OUT, params)  # unprepared: fp32
    assert (found.eval_loss == plain) is (precision == "fp32")
