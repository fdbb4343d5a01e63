"""The DPO loop: it overfits a handful of pairs, k micro-batches take the step one batch k times
larger takes, and a resumed run continues with the same next-step loss."""

from __future__ import annotations

import math

import torch

from trainer.train import make_objective, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg


def test_overfit_reaches_full_reward_accuracy_and_the_margin_grows(tiny_dir, tokenizer):
    cfg = dpo_cfg(method="full", max_steps=40, learning_rate=2e-3, dpo_beta=0.5)
    objective = make_objective(tokenizer, PAIRS, cfg, eval_contents=PAIRS)
    seen = []
    result = train(
        load_model(tiny_dir), tokenizer, objective, cfg, on_step=lambda s, v: seen.append(v)
    )
    margins = [v["reward_margin"] for v in seen]
    assert abs(seen[0]["loss"] - math.log(2)) < 1e-5
    assert margins[0] == 0.0 and seen[0]["reward_accuracy"] == 0.0  # policy == reference
    assert margins[-1] > margins[10] > margins[1] > 0
    assert seen[-1]["reward_accuracy"] == 1.0
    assert seen[-1]["loss"] < 0.1
    end = objective.evaluate(result.model)
    assert end["reward_accuracy"] == 1.0 and end["pair_accuracy"] == 1.0
    assert end["reward_margin"] > 2.0
    start = objective.start_figures()
    assert start["reward_margin"] == 0.0 and start["pair_accuracy"] < 1.0


def test_lora_learns_the_preferences_too(tiny_dir, tokenizer):
    cfg = dpo_cfg(method="lora", max_steps=40, learning_rate=3e-2, lora_rank=8, dpo_beta=0.5)
    objective = make_objective(tokenizer, PAIRS, cfg, eval_contents=PAIRS)
    result = train(load_model(tiny_dir), tokenizer, objective, cfg)
    end = objective.evaluate(result.model)
    assert end["reward_accuracy"] == 1.0 and end["reward_margin"] > 0.5


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_accumulated_micro_batches_take_the_step_of_one_large_batch(tiny_dir, tokenizer):
    common = dict(method="full", max_steps=3, learning_rate=1e-3, max_grad_norm=None)
    large = train(load_model(tiny_dir), tokenizer, PAIRS[:4], dpo_cfg(batch_size=4, **common))
    accum = train(
        load_model(tiny_dir),
        tokenizer,
        PAIRS[:4],
        dpo_cfg(batch_size=1, grad_accum=4, **common),
    )
    torch.testing.assert_close(accum.losses, large.losses, atol=1e-5, rtol=0)
    for (name, a), (_, b) in zip(
        accum.model.named_parameters(), large.model.named_parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=name)


def test_one_micro_batch_gradient_equals_the_sum_of_its_parts(tiny_dir, tokenizer):
    """The loss is divided by the step's pair count, not each micro-batch's: no mean of means
    (pairs of different lengths would otherwise weigh differently)."""
    from trainer.pairs import collate_pairs

    cfg = dpo_cfg(batch_size=4)
    pad = tokenizer.pad_token_id

    def gradients(groups):
        objective = make_objective(tokenizer, PAIRS[:4], cfg)
        model = load_model(tiny_dir)
        objective.setup(model, None)
        with torch.no_grad():  # move the policy off the reference, the same way each time
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p, generator=torch.Generator().manual_seed(1)))
        model.train()
        for group in groups:
            total, _ = objective.loss_sum(
                model, collate_pairs([objective.pairs[i] for i in group], pad)
            )
            (total / 4).backward()
        return _grads(model)

    one = gradients([[0, 1, 2, 3]])
    parts = gradients([[0], [1, 2], [3]])
    for name in one:
        torch.testing.assert_close(parts[name], one[name], atol=1e-6, rtol=1e-5, msg=name)


def _resume_case(tiny_dir, tokenizer, tmp_path, method, *, drop_saved_reference=False):
    cfg = dpo_cfg(
        method=method,
        max_steps=6,
        learning_rate=5e-3 if method == "full" else 3e-2,
        batch_size=2,
        grad_accum=2,
        checkpoint_interval=3,
        lora_rank=4,
        seed=1,
    )
    straight = train(load_model(tiny_dir), tokenizer, PAIRS, cfg)
    ckpt = tmp_path / method
    first = train(
        load_model(tiny_dir),
        tokenizer,
        PAIRS,
        cfg,
        checkpoint_dir=ckpt,
        on_step=lambda s, m: s == 3,
    )
    assert first.step == 3
    saved = ckpt / "step-3"
    assert (saved / "objective.pt").exists()
    if drop_saved_reference:
        (saved / "objective.pt").unlink()  # then it is scored again from the starting model
    resumed = train(load_model(tiny_dir), tokenizer, PAIRS, cfg, resume_from=saved)
    assert resumed.step == 6
    assert first.losses == straight.losses[:3]
    assert len(set(straight.losses)) == 6  # the loss moves: the comparison means something
    torch.testing.assert_close(resumed.losses, straight.losses[3:], atol=1e-6, rtol=0)


def test_resume_continues_the_same_dpo_run_full(tiny_dir, tokenizer, tmp_path):
    _resume_case(tiny_dir, tokenizer, tmp_path, "full")


def test_resume_continues_the_same_dpo_run_lora(tiny_dir, tokenizer, tmp_path):
    _resume_case(tiny_dir, tokenizer, tmp_path, "lora")


def test_resume_without_the_saved_reference_scores_the_starting_model_again(
    tiny_dir, tokenizer, tmp_path
):
    _resume_case(tiny_dir, tokenizer, tmp_path, "full", drop_saved_reference=True)
