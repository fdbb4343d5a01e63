"""The first fine-tune a new user runs shows learning: the launch form's `tiny` preset, as it
is, teaches the tiny model the prompts it is tuned on, so the seen sample comes back close to
its references (the held-out prompts cannot: a model this small does not generalise from a few
dozen items, and the results page says so).

On a demo-like version (the first ``ITEMS`` approved supervised items of the demo, in both
languages, conversations among them), through the worker's own job code. The full Demo v1
figure is ``bench/tiny_job.py``'s (README, Quick start).
"""

from __future__ import annotations

from app.core import protocol
from app.core.kinds import SFT_KINDS, ItemContent
from app.demo.loader import item_draft, load_content
from app.jobs.forms import PRESETS
from trainer.job import run_job

from .test_seen import InProcess, _items

ITEMS = 12
# Mean token F1 of the tuned model on the seen sample that the preset must reach here.
SEEN_F1 = 0.8


def demo_like(n: int) -> list[ItemContent]:
    """The first approved supervised demo items with an answer, ``n`` of them, taken in turn
    from the English and the Chinese ones (each in the files' order)."""
    by_language: dict[str, list[ItemContent]] = {"en": [], "zh": []}
    for item in load_content().items:
        if item.get("status") != "approved" or item["kind"] not in SFT_KINDS:
            continue
        content = ItemContent(**item_draft(item).model_dump(include=set(ItemContent.model_fields)))
        if content.output.strip():
            by_language[content.language or "en"].append(content)
    turns = zip(by_language["en"], by_language["zh"], strict=False)
    return [c for pair in turns for c in pair][:n]


def test_the_tiny_preset_learns_the_prompts_it_is_tuned_on(tmp_path):
    contents = demo_like(ITEMS + 2)
    train_items, held_out = (
        _items(contents[:ITEMS], "train", 1),
        _items(contents[ITEMS:], "eval", 100),
    )
    assert {c.content.language or "en" for c in train_items} >= {"en", "zh"}
    spec = protocol.JobSpec(
        job_id=1,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=protocol.JobParams(**PRESETS["tiny"]),
        lease_seconds=600,
        artifact_dir=str(tmp_path / "job"),
    )
    client = InProcess(train_items, held_out)
    run_job(client, spec)
    metrics = client.completion().metrics
    seen = [p for p in client.predictions_sent() if p.split == "train"]
    assert len(seen) == 8
    assert metrics["seen_tuned_f1"] > SEEN_F1, [(p.reference, p.tuned_output) for p in seen]
    assert metrics["seen_tuned_f1"] > metrics["seen_base_f1"] + 0.5
    assert metrics["seen_tuned_loss"] < metrics["seen_base_loss"] / 5
