"""Pairs as model inputs and SFT without them: encoding keeps the prompt and cuts the answers,
drops a pair whose prompt alone does not fit, batches chosen and rejected rows together; SFT
trains on every kind but pairs, evaluates loss on its own kinds, still generates for every eval
prompt, and refuses a version with pairs only."""

from __future__ import annotations

import pytest
import torch

from app.core import protocol
from app.core.kinds import ItemContent
from trainer.data import IGNORE
from trainer.job import Dataset, NothingToLearn, learnable_items
from trainer.pairs import collate_pairs, encode_pair, encode_pairs
from trainer.train import TokenObjective, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg


def _labelled(example) -> list[int]:
    return [t for t in example.labels if t != IGNORE]


def test_a_long_pair_keeps_its_prompt_and_loses_answer_tokens(tokenizer):
    long = ItemContent(
        kind="preference",
        instruction="Describe the sea.",
        output="The sea is wide and deep and blue and cold. " * 4,
        rejected="Sea. " * 30,
    )
    whole = encode_pair(tokenizer, long)
    prompt_len = whole.chosen.labels.index(next(t for t in whole.chosen.labels if t != IGNORE))
    stats_cut = encode_pairs(tokenizer, [long], max_seq_len=prompt_len + 3)[1]
    cut = encode_pair(tokenizer, long, max_seq_len=prompt_len + 3)
    assert stats_cut.truncated == 1 and stats_cut.dropped == 0
    for side, full in ((cut.chosen, whole.chosen), (cut.rejected, whole.rejected)):
        assert len(side) == prompt_len + 3
        assert side.input_ids == full.input_ids[: prompt_len + 3]  # the prompt is all there
        assert len(_labelled(side)) == 3

    pairs, stats = encode_pairs(tokenizer, [long, PAIRS[0]], max_seq_len=prompt_len)
    assert stats.dropped == 1 and [p.source for p in pairs] == [1] and pairs[0].slot == 0


def test_a_pair_batch_holds_the_chosen_rows_then_the_rejected(tokenizer):
    pairs, _ = encode_pairs(tokenizer, PAIRS[:3], max_seq_len=128)
    batch = collate_pairs(pairs, tokenizer.pad_token_id)
    assert batch["pairs"] == 3 and batch["input_ids"].shape[0] == 6
    for i, pair in enumerate(pairs):
        for row, side in ((i, pair.chosen), (i + 3, pair.rejected)):
            n = len(side)
            assert batch["input_ids"][row, :n].tolist() == side.input_ids
            assert batch["attention_mask"][row].sum() == n
            assert (batch["labels"][row, n:] == IGNORE).all()
    assert batch["slots"].tolist() == [0, 1, 2]


def test_sft_leaves_pairs_out_and_trains_as_without_them(tiny_dir, tokenizer, items):
    mixed = [*items[:2], PAIRS[0], *items[2:], PAIRS[1]]
    objective = TokenObjective(tokenizer, mixed, dpo_cfg(objective="sft"))
    assert objective.left_out == 2 and len(objective) == len(items)
    cfg = dpo_cfg(objective="sft", max_steps=3, batch_size=2)
    with_pairs = train(load_model(tiny_dir), tokenizer, mixed, cfg)
    without = train(load_model(tiny_dir), tokenizer, items, cfg)
    torch.testing.assert_close(with_pairs.losses, without.losses, atol=0, rtol=0)


def _item(item_id: int, content: ItemContent, split: str = "train") -> protocol.DatasetItem:
    return protocol.DatasetItem(item_id=item_id, revision=1, split=split, content=content)


def _spec(objective: str) -> protocol.JobSpec:
    return protocol.JobSpec(
        job_id=1,
        attempt=1,
        dataset_version_id=12,
        base_model="tiny",
        params=protocol.JobParams(objective=objective),
        lease_seconds=120,
        artifact_dir="/nonexistent",
    )


def test_sft_on_a_version_of_pairs_only_fails_with_a_sentence():
    data = Dataset(train=[_item(i, p) for i, p in enumerate(PAIRS)], eval=[])
    with pytest.raises(NothingToLearn) as error:
        learnable_items(_spec("sft"), data)
    assert str(error.value).startswith(
        "Dataset version 12 holds only preference pairs in its training split, and supervised "
        "fine-tuning leaves pairs out."
    )


def test_dpo_on_a_version_without_pairs_fails_with_a_sentence(items):
    data = Dataset(train=[_item(i, c) for i, c in enumerate(items)], eval=[])
    with pytest.raises(NothingToLearn, match="Dataset version 12 has no preference pair"):
        learnable_items(_spec("dpo"), data)


def test_sft_eval_loss_covers_its_own_kinds_and_generation_every_prompt(items):
    train_items = [_item(1, items[0]), _item(2, PAIRS[0])]
    eval_items = [_item(3, items[1], "eval"), _item(4, PAIRS[1], "eval")]
    learnable = learnable_items(_spec("sft"), Dataset(train=train_items, eval=eval_items))
    assert [i.item_id for i in learnable.train] == [1]
    assert [i.item_id for i in learnable.eval] == [3]  # eval loss over SFT's kinds only
    assert "1 preference pairs left out of supervised fine-tuning" in learnable.note
    dpo = learnable_items(_spec("dpo"), Dataset(train=train_items, eval=eval_items))
    assert [i.item_id for i in dpo.train] == [2]
    assert [i.item_id for i in dpo.eval] == [3, 4]  # generations on every eval prompt
    assert "1 items of other kinds are left out" in dpo.note


def test_a_pair_is_evaluated_on_its_prompt_with_its_chosen_answer_as_reference(model, tokenizer):
    from trainer.evaluate import prompt_text
    from trainer.job import evaluate

    from .test_reports import Recording

    pair = _item(4, PAIRS[3], "eval")
    text = prompt_text(tokenizer, pair.content)
    assert "And good night?" in text and "bonne nuit" not in text and "good night<" not in text
    client = Recording()
    spec = _spec("dpo").model_copy(
        update={"params": protocol.JobParams(objective="dpo", generation={"max_new_tokens": 3})}
    )
    [prediction] = evaluate(client, spec, model, tokenizer, [pair], {4: "base"})
    assert prediction.reference == "bonne nuit" and prediction.kind == "preference"
