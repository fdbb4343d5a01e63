"""The model card of a DPO job: it says DPO with its beta and label smoothing, counts pairs,
shows the eval pairs' figures of the starting and the tuned model (no perplexity: a DPO loss is
no per-token loss), and, for a job that continued from another, that job and how to load it."""

from __future__ import annotations

import yaml

from app.core.protocol import JobParams, JobSpec, StartFrom
from trainer.modelcard import render_model_card

SUMMARY = {
    "final_train_loss": 0.3,
    "steps": 12,
    "eval_loss": 0.45,
    "start_pair_accuracy": 0.5,
    "start_pair_margin": -1.25,
    "tuned_pair_accuracy": 0.75,
    "tuned_pair_margin": 2.5,
    "eval_reward_accuracy": 0.875,
    "eval_reward_margin": 0.6,
    "pairs_train": 30,
    "pairs_eval": 8,
}


def _card(start: StartFrom | None = None, **params) -> tuple[dict, str]:
    spec = JobSpec(
        job_id=21,
        attempt=1,
        dataset_version_id=4,
        base_model="org/base",
        params=JobParams(objective="dpo", dpo_beta=0.25, dpo_label_smoothing=0.1, **params),
        lease_seconds=120,
        artifact_dir="/tmp/job-21",
        start_from=start,
    )
    card = render_model_card(
        spec, SUMMARY, train_count=30, eval_count=10, encoding={"truncated": 2, "dropped": 1}
    )
    meta, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(meta), body


def _row(body: str, first: str) -> list[str]:
    line = next(x for x in body.splitlines() if x.startswith(f"| {first} |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_a_dpo_card_says_dpo_and_shows_the_pair_figures():
    meta, body = _card(method="lora")
    assert meta["tags"] == ["instruction-studio", "lora", "dpo"]
    assert "trained with DPO" in body and "beta `0.25` and label smoothing `0.1`" in body
    assert "30 preference pairs and 10 held-out evaluation items" in body
    assert "2 preference pairs cut inside an answer" in body
    assert "1 preference pair left out as longer than the maximum length" in body
    assert _row(body, "Eval DPO loss") == ["Eval DPO loss", "0.4500"]
    assert "Perplexity" not in body
    assert _row(body, "Pair accuracy") == ["Pair accuracy", "0.5000", "0.7500"]
    assert _row(body, "Pair margin") == ["Pair margin", "-1.2500", "2.5000"]
    assert _row(body, "Reward accuracy") == ["Reward accuracy", "—", "0.8750"]
    assert "DPO batches its pairs padded" in body
    assert "does not use the `dpo_*` settings" not in body


def test_a_card_of_a_job_continued_from_a_lora_job_says_how_to_load_it():
    _, body = _card(StartFrom(job_id=9, method="lora", artifact_dir="/tmp/job-9"), method="lora")
    assert "It started from the tuned model of job 9 (its LoRA adapter merged" in body
    assert (
        'base = PeftModel.from_pretrained(base, "path/to/job/9/model").merge_and_unload()' in body
    )
    _, body = _card(StartFrom(job_id=9, method="full", artifact_dir="/tmp/job-9"), method="full")
    assert "It started from the tuned model of job 9 (a full fine-tune)" in body
    assert 'AutoModelForCausalLM.from_pretrained("path/to/this/folder")' in body
