"""Direct Preference Optimisation (Rafailov et al., 2023), the sigmoid loss, as an objective of
``trainer.train``'s loop.

For a pair with prompt x, chosen answer y_c and rejected answer y_r, with log-probabilities
*summed over the answer's tokens* (its end-of-turn token included; ``trainer.pairs``)::

    logits = beta * ((log pi(y_c|x) - log ref(y_c|x)) - (log pi(y_r|x) - log ref(y_r|x)))
    loss   = -(1 - ls) * logsigmoid(logits) - ls * logsigmoid(-logits)

``ls`` is label smoothing (conservative DPO: the share of pairs assumed mislabelled). A step's
loss is the mean over the step's pairs, across its micro-batches and ranks, as SFT's is the mean
over its tokens. The implicit rewards are ``beta * (log pi - log ref)`` of each answer; reward
accuracy is the share of pairs whose chosen answer earns the larger one.

**The reference is the frozen starting model** and never a second copy of it: its
log-probabilities for every training and eval pair are computed once, before the first step
(no gradients, eval mode). With LoRA they come from the same model with the adapter disabled;
for a full fine-tune from the weights before any update. They are saved with each checkpoint,
so a resumed run scores against the very same numbers. DPO trains without dropout (as TRL
does): the reference is scored without it, and dropout noise would read as reward.

Only answer tokens need logits: the decoder's hidden states at the labelled positions go
through the output layer, not the whole sequence (the prompt is often most of it). A model
whose logits are more than ``lm_head(hidden)`` (soft-capped, scaled) is detected on the first
batch and scored through its ordinary forward instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from app.core.kinds import ItemContent
from app.core.protocol import JobParams
from trainer.checkpoints import load_objective_state
from trainer.data import IGNORE
from trainer.pairs import Pair, collate_pairs, encode_pairs, is_pair
from trainer.train import Batches, autocast, on_device

# The figures a step reports besides its loss (``train/<name>``; ``eval/<name>`` on eval pairs).
REWARD_FIGURES = ("rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy")


# --- log-probabilities -----------------------------------------------------------------------


def _head_parts(model):
    """The decoder and the output layer of a causal LM (through a PEFT wrapper), or None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    get_decoder = getattr(base, "get_decoder", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    decoder = get_decoder() if get_decoder else None
    if decoder is None or head is None or decoder is base:
        return None
    return decoder, head


def response_logps(model, batch: dict, *, fast: bool = True) -> torch.Tensor:
    """Each row's log-probability of its labelled tokens, summed (float32, shape ``rows``)."""
    batch = on_device(model, batch)
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    parts = _head_parts(model) if fast else None
    with autocast(model):
        if parts is not None:
            decoder, head = parts
            hidden = decoder(**inputs, use_cache=False).last_hidden_state
            picked = _label_logps(head, hidden[:, :-1][keep], labels[keep])
        else:
            logits = model(**inputs).logits[:, :-1][keep]
            picked = _logps_of(logits, labels[keep])
    rows = keep.nonzero(as_tuple=True)[0]
    return torch.zeros(labels.shape[0], device=picked.device).index_add(0, rows, picked)


# Logits held at once (elements) when the output layer scores answer tokens: beyond this, they
# are scored in slices, and in training each slice is recomputed in the backward pass instead
# of kept (a 150k vocabulary and a few thousand answer tokens would otherwise hold gigabytes).
LOGITS_AT_ONCE = 2**26


def _logps_of(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = logits.float()
    picked = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
    return picked - torch.logsumexp(logits, dim=-1)


def _head_logps(head, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return _logps_of(head(hidden), labels)


def _label_logps(head, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(label) at each of ``hidden``'s positions, through the output layer ``head``."""
    rows = max(1, LOGITS_AT_ONCE // head.weight.shape[0])
    if len(hidden) <= rows:
        return _head_logps(head, hidden, labels)
    parts = []
    for k in range(0, len(hidden), rows):
        h, y = hidden[k : k + rows], labels[k : k + rows]
        if torch.is_grad_enabled():
            parts.append(checkpoint(_head_logps, head, h, y, use_reentrant=False))
        else:
            parts.append(_head_logps(head, h, y))
    return torch.cat(parts)


@contextmanager
def scoring(model, *, reference: bool):
    """Eval mode, no gradients, and with ``reference`` the LoRA adapter disabled; the model's
    mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if reference and hasattr(model, "disable_adapter"):
                with model.disable_adapter():
                    yield
            else:
                yield
    finally:
        model.train(was_training)


def score_pairs(
    model,
    pairs: Sequence[Pair],
    cfg: JobParams,
    pad_id: int,
    *,
    reference: bool,
    fast=True,
    each_batch: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """Summed log-probabilities of each pair's (chosen, rejected) answers, shape ``(n, 2)`` on
    the CPU, in the order of ``pairs``; ``reference`` scores the starting model. Batches take
    the pairs longest first, so little of them is padding (their order matters to no one)."""
    out = torch.zeros(len(pairs), 2)
    order = sorted(
        range(len(pairs)), key=lambda i: -max(len(pairs[i].chosen), len(pairs[i].rejected))
    )
    size = cfg.batch_size
    with scoring(model, reference=reference):
        for k in range(0, len(order), size):
            index = order[k : k + size]
            batch = collate_pairs([pairs[i] for i in index], pad_id)
            logps = response_logps(model, batch, fast=fast).cpu()
            out[index, 0] = logps[: len(index)]
            out[index, 1] = logps[len(index) :]
            if each_batch is not None and each_batch():
                break  # the job is to stop: the rest would be thrown away
    return out


def head_path_agrees(model, pairs: Sequence[Pair], pad_id: int) -> bool:
    """Whether scoring through the output layer alone gives the model's own logits' numbers
    (false for a model that soft-caps or scales its logits)."""
    if not pairs or _head_parts(model) is None:
        return False
    batch = collate_pairs([min(pairs, key=len)], pad_id)  # one short pair: a cheap check
    with scoring(model, reference=True):
        fast = response_logps(model, batch, fast=True)
        full = response_logps(model, batch, fast=False)
    return bool(torch.allclose(fast, full, rtol=1e-3, atol=1e-2))


# --- the loss --------------------------------------------------------------------------------


@dataclass
class DpoTerms:
    """Per pair: the loss, the implicit rewards and the logits ``beta * margin``."""

    losses: torch.Tensor
    rewards_chosen: torch.Tensor
    rewards_rejected: torch.Tensor
    logits: torch.Tensor

    def sums(self) -> dict[str, float]:
        """The reward figures summed over the pairs (the loop divides by the step's count)."""
        margin = self.rewards_chosen - self.rewards_rejected
        return {
            "rewards_chosen": float(self.rewards_chosen.sum()),
            "rewards_rejected": float(self.rewards_rejected.sum()),
            "reward_margin": float(margin.sum()),
            "reward_accuracy": float((margin > 0).sum()),
        }


def dpo_terms(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    *,
    beta: float,
    label_smoothing: float = 0.0,
) -> DpoTerms:
    """The sigmoid DPO loss of each pair from summed answer log-probabilities."""
    chosen = policy_chosen - reference_chosen
    rejected = policy_rejected - reference_rejected
    logits = beta * (chosen - rejected)
    losses = -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)
    return DpoTerms(
        losses, beta * chosen.detach(), beta * rejected.detach(), logits.detach().float()
    )


def pair_figures(policy: torch.Tensor, reference: torch.Tensor, cfg: JobParams) -> dict:
    """Mean loss and reward figures of scored pairs (``(n, 2)`` each), plus ``pair_accuracy``
    and ``pair_margin``: the share where the policy gives the chosen answer the higher
    log-probability, and the mean difference. Empty when there are no pairs."""
    if not len(policy):
        return {}
    terms = dpo_terms(
        policy[:, 0],
        policy[:, 1],
        reference[:, 0],
        reference[:, 1],
        beta=cfg.dpo_beta,
        label_smoothing=cfg.dpo_label_smoothing,
    )
    n = len(policy)
    figures = {name: value / n for name, value in terms.sums().items()}
    figures["loss"] = float(terms.losses.mean())
    gap = policy[:, 0] - policy[:, 1]
    figures["pair_accuracy"] = float((gap > 0).float().mean())
    figures["pair_margin"] = float(gap.mean())
    return figures


def _no_dropout(model) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0


# --- the objective ---------------------------------------------------------------------------


class PairObjective:
    """DPO over the preference pairs among ``contents`` (other kinds are left out: ``left_out``
    counts them); ``eval_contents``' pairs are scored at eval intervals and at the end."""

    empty = "no preference pair fits in max_seq_len"

    def __init__(
        self,
        tokenizer,
        contents: Sequence[ItemContent],
        cfg: JobParams,
        *,
        eval_contents: Sequence[ItemContent] = (),
    ) -> None:
        self.cfg, self.pad_id = cfg, tokenizer.pad_token_id
        self.n_contents = len(contents)
        self.pairs, self.stats = self._encode(tokenizer, contents)
        self.left_out = len(contents) - sum(map(is_pair, contents))
        self.eval_pairs, self.eval_stats = self._encode(tokenizer, eval_contents)
        self.reference = torch.zeros(0, 2)
        self.eval_reference = torch.zeros(0, 2)
        self.fast = True
        # Called after each batch of the reference pass, which may be long: the job's
        # heartbeat goes out before the first step (trainer.reporter.Reporter.keep_alive). It
        # answers True when the job is to stop, and the pass ends there (``stopped``).
        self.keep_alive: Callable[[], bool] | None = None
        self.stopped = False

    def _encode(self, tokenizer, contents: Sequence[ItemContent]):
        kept = [i for i, c in enumerate(contents) if is_pair(c)]
        pairs, stats = encode_pairs(
            tokenizer, [contents[i] for i in kept], max_seq_len=self.cfg.max_seq_len
        )
        for pair in pairs:
            pair.source = kept[pair.source]  # back to the caller's numbering
        return pairs, stats

    def __len__(self) -> int:
        return len(self.pairs)

    def batches(self, model, cfg: JobParams) -> Batches:
        return Batches(self.pairs, cfg, lambda chunk: collate_pairs(chunk, self.pad_id))

    def setup(self, model, resume_from: Path | None) -> None:
        """Score the reference once (or take the checkpoint's scores of it)."""
        _no_dropout(model)
        self.fast = head_path_agrees(model, self.pairs, self.pad_id)
        saved = load_objective_state(resume_from) if resume_from else None
        if saved is not None and len(saved["reference"]) == len(self.pairs):
            self.reference, self.eval_reference = saved["reference"], saved["eval_reference"]
            return
        self.reference = self._score(model, self.pairs, reference=True)
        if not self.stopped:
            self.eval_reference = self._score(model, self.eval_pairs, reference=True)

    def _score(self, model, pairs, *, reference: bool) -> torch.Tensor:
        return score_pairs(
            model,
            pairs,
            self.cfg,
            self.pad_id,
            reference=reference,
            fast=self.fast,
            each_batch=self._keep_alive,
        )

    def _keep_alive(self) -> bool:
        self.stopped = bool(self.keep_alive and self.keep_alive())
        return self.stopped

    def count(self, batch: dict) -> int:
        return batch["pairs"]

    def loss_sum(self, model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        logps = response_logps(model, batch, fast=self.fast)
        n = batch["pairs"]
        reference = self.reference[batch["slots"]].to(logps.device)
        terms = dpo_terms(
            logps[:n],
            logps[n:],
            reference[:, 0],
            reference[:, 1],
            beta=self.cfg.dpo_beta,
            label_smoothing=self.cfg.dpo_label_smoothing,
        )
        return terms.losses.sum(), terms.sums()

    def state(self) -> dict[str, torch.Tensor]:
        return {"reference": self.reference, "eval_reference": self.eval_reference}

    # --- measurements for the reporter and the summary ---

    def evaluate(self, model) -> dict[str, float]:
        """Loss, reward and pair figures of ``model`` on the eval pairs."""
        policy = self._score(model, self.eval_pairs, reference=False)
        return pair_figures(policy, self.eval_reference, self.cfg)

    def start_figures(self) -> dict[str, float]:
        """The starting model's pair accuracy and margin on the eval pairs."""
        return pair_figures(self.eval_reference, self.eval_reference, self.cfg)

    def dynamics(self, model) -> list[tuple[float, float] | None]:
        """Per training content: the pair's DPO loss and the probability the implicit reward
        model gives its chosen answer being preferred (``sigmoid(logits)``), the data map's
        loss and confidence; ``None`` for a content that is no pair or did not fit."""
        policy = self._score(model, self.pairs, reference=False)
        terms = dpo_terms(
            policy[:, 0],
            policy[:, 1],
            self.reference[:, 0],
            self.reference[:, 1],
            beta=self.cfg.dpo_beta,
            label_smoothing=self.cfg.dpo_label_smoothing,
        )
        out: list[tuple[float, float] | None] = [None] * self.n_contents
        confidence = torch.sigmoid(terms.logits)
        for pair, loss, conf in zip(self.pairs, terms.losses, confidence, strict=True):
            if math.isfinite(float(loss)):
                out[pair.source] = (float(loss), float(conf))
        return out
