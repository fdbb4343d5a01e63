"""The DPO loss the trainer optimises, against the formula written out here: log-probabilities
summed over the answer tokens only (found from the token ids), the reference term included."""

from __future__ import annotations

import math

import pytest
import torch

from app.core.prompts import pair_messages
from trainer.dpo import PairObjective, dpo_terms
from trainer.pairs import collate_pairs, encode_pair
from trainer.train import prepare_model, train

from .conftest import load_model
from .pair_data import PAIRS, dpo_cfg


def _answer_positions(tokenizer, content, answer: str) -> tuple[list[int], list[int]]:
    """The token ids of prompt + answer, and the positions of the answer's tokens: those after
    the prompt's own tokens, through the end-of-turn token (EOS) the template writes."""
    prompt, chosen, _ = pair_messages(content)
    prompt_text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    full_text = tokenizer.apply_chat_template(
        [*prompt, {**chosen, "content": answer}], tokenize=False
    )
    prompt_ids = tokenizer(prompt_text)["input_ids"]
    ids = tokenizer(full_text)["input_ids"]
    assert ids[: len(prompt_ids)] == prompt_ids
    end = ids.index(tokenizer.eos_token_id, len(prompt_ids))
    return ids, list(range(len(prompt_ids), end + 1))


def approx(value: float, tol: float):
    return pytest.approx(value, abs=tol, rel=tol)


@torch.no_grad()
def _summed_logp(model, tokenizer, content, answer: str) -> float:
    ids, positions = _answer_positions(tokenizer, content, answer)
    logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    # The token at position p is predicted by the logits at p - 1.
    return sum(float(logp[p - 1, ids[p]]) for p in positions)


def _by_hand(policy, reference, tokenizer, contents, beta: float, ls: float) -> float:
    losses = []
    for content in contents:
        pc = _summed_logp(policy, tokenizer, content, content.output)
        pr = _summed_logp(policy, tokenizer, content, content.rejected)
        rc = _summed_logp(reference, tokenizer, content, content.output)
        rr = _summed_logp(reference, tokenizer, content, content.rejected)
        z = beta * ((pc - rc) - (pr - rr))
        log_sigmoid = lambda x: -math.log1p(math.exp(-x))  # noqa: E731
        losses.append(-(1 - ls) * log_sigmoid(z) - ls * log_sigmoid(-z))
    return sum(losses) / len(losses)


def test_the_encoded_answer_is_the_hand_found_positions(tokenizer):
    for content in PAIRS:
        pair = encode_pair(tokenizer, content)
        for example, answer in ((pair.chosen, content.output), (pair.rejected, content.rejected)):
            ids, positions = _answer_positions(tokenizer, content, answer)
            assert example.input_ids == ids[: positions[-1] + 1]
            labelled = [i for i, label in enumerate(example.labels) if label != -100]
            assert labelled == positions
            assert example.input_ids[positions[-1]] == tokenizer.eos_token_id


def test_the_trainers_step_loss_is_the_written_out_dpo_loss(tiny_dir, tokenizer, tmp_path):
    """Two pairs, one batch: step 2's loss is the DPO loss of the weights after step 1 (its
    checkpoint) against the starting model."""
    pairs = PAIRS[:2]
    cfg = dpo_cfg(
        max_steps=2, batch_size=2, learning_rate=5e-3, dpo_beta=0.3, dpo_label_smoothing=0.1
    )
    cfg = cfg.model_copy(update={"checkpoint_interval": 1})
    result = train(load_model(tiny_dir), tokenizer, pairs, cfg, checkpoint_dir=tmp_path)
    assert result.losses[0] == approx(math.log(2), 1e-5)  # policy == reference at first

    stepped = load_model(tmp_path / "step-1")
    start = load_model(tiny_dir)
    expected = _by_hand(stepped, start, tokenizer, pairs, beta=0.3, ls=0.1)
    assert abs(expected - math.log(2)) > 1e-3  # the step moved the policy
    assert result.losses[1] == approx(expected, 1e-5)


def test_the_objectives_loss_sum_and_rewards_match_by_hand(tiny_dir, tokenizer):
    pairs = PAIRS[1:3]
    cfg = dpo_cfg(batch_size=2, dpo_beta=0.5)
    objective = PairObjective(tokenizer, pairs, cfg)
    policy = prepare_model(load_model(tiny_dir), cfg)
    objective.setup(policy, None)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p, generator=torch.Generator().manual_seed(0)))
    batch = collate_pairs(objective.pairs, tokenizer.pad_token_id)
    total, sums = objective.loss_sum(policy.eval(), batch)
    start = load_model(tiny_dir)
    assert float(total.detach()) / 2 == approx(
        _by_hand(policy, start, tokenizer, pairs, beta=0.5, ls=0.0), 1e-5
    )
    rewards = []
    for content in pairs:
        pc = _summed_logp(policy, tokenizer, content, content.output)
        rc = _summed_logp(start, tokenizer, content, content.output)
        rewards.append(0.5 * (pc - rc))
    assert sums["rewards_chosen"] == approx(sum(rewards), 1e-4)


def test_label_smoothing_and_beta_follow_the_formula():
    pc, pr = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -2.0])
    rc, rr = torch.tensor([-3.5, -4.0]), torch.tensor([-3.5, -4.0])
    terms = dpo_terms(pc, pr, rc, rr, beta=0.2, label_smoothing=0.25)
    z = [0.2 * ((-3.0 + 3.5) - (-4.0 + 3.5)), 0.2 * ((-5.0 + 4.0) - (-2.0 + 4.0))]
    for k, zk in enumerate(z):
        sig = 1 / (1 + math.exp(-zk))
        expected = -0.75 * math.log(sig) - 0.25 * math.log(1 - sig)
        assert float(terms.losses[k]) == approx(expected, 1e-6)
    sums = terms.sums()
    assert sums["reward_accuracy"] == 1.0  # the first pair's chosen answer earns more
    assert sums["reward_margin"] == approx(sum(z), 1e-6)
