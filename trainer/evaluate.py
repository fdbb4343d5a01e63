"""Evaluation: the loss on held-out items, each training item's loss and confidence (the data
map's input), generation, and the scores of a generated output against the reference."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from app.core import constraints, metrics
from app.core.kinds import ItemContent
from app.core.prompts import prompt_messages
from app.core.protocol import DatasetItem, JobParams
from trainer.data import IGNORE, collate_padded, encode_all, encode_example, mask_kind_for
from trainer.train import autocast, loss_sum, on_device, sft_batches
from trainer.turns import tokenize


@torch.no_grad()
def evaluate_loss(model, tokenizer, examples: Sequence[ItemContent], cfg: JobParams) -> float:
    """Mean loss per response token over ``examples``, computed the way training computes it."""
    encoded, _ = encode_all(tokenizer, examples, max_seq_len=cfg.max_seq_len)
    batches = sft_batches(encoded, cfg, tokenizer.pad_token_id, mask_kind_for(model))
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches.all():
        s, n = loss_sum(model, batch)
        total, count = total + s.item(), count + n
    model.train(was_training)
    return total / max(1, count)


@torch.no_grad()
def item_dynamics(
    model, tokenizer, examples: Sequence[ItemContent], cfg: JobParams
) -> list[tuple[float, float] | None]:
    """Per item: mean loss over its response tokens and the mean probability the model gives
    the reference tokens (the confidence of Swayamdipta et al., 2020). ``None`` for an item that
    does not fit in ``max_seq_len``."""
    was_training = model.training
    model.eval()
    result: list[tuple[float, float] | None] = []
    for content in examples:
        encoded, _ = encode_all(tokenizer, [content], max_seq_len=cfg.max_seq_len)
        if not encoded:
            result.append(None)
            continue
        batch = on_device(model, collate_padded(encoded, tokenizer.pad_token_id))
        with autocast(model):  # the job's precision, as training computes
            output = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"],
            )
        logits = output.logits[0, :-1].float()
        targets = batch["labels"][0, 1:]
        keep = targets != IGNORE
        log_probs = torch.log_softmax(logits[keep], dim=-1)
        picked = log_probs.gather(1, targets[keep].unsqueeze(1)).squeeze(1)
        result.append((float(-picked.mean()), float(picked.exp().mean())))
    model.train(was_training)
    return result


def generation_settings(params: JobParams) -> dict:
    """The keyword arguments of ``generate`` that a job's ``generation`` settings give."""
    g = params.generation
    return {"max_new_tokens": g.max_new_tokens, "temperature": g.temperature, "top_p": g.top_p}


def prompt_text(tokenizer, content: ItemContent) -> str:
    """What the model continues when evaluated: everything before the reference output under
    the chat template, ending with the generation prompt. For a conversation that is the system
    prompt and every turn up to its final user turn; the final answer is the reference."""
    return tokenizer.apply_chat_template(
        prompt_messages(content), add_generation_prompt=True, tokenize=False
    )


def stop_ids(tokenizer) -> list[int]:
    """EOS and the token the chat template ends an answer with (ChatML's ``<|im_end|>`` where
    EOS is another token): training taught the model to stop with it."""
    probe = encode_example(tokenizer, ItemContent(kind="task", instruction="Hi.", output="Hi."))
    stops = [tokenizer.eos_token_id]
    if probe is not None and probe.labels[-1] not in stops:
        stops.append(probe.labels[-1])
    return stops


@torch.no_grad()
def generate(
    model,
    tokenizer,
    content: ItemContent,
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
) -> tuple[str, bool]:
    """The completion of the item's prompt (greedy unless ``temperature`` > 0, as
    ``GenerationParams`` says): the text, and whether it stopped at an end of turn."""
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
    ids = tokenize(tokenizer, prompt_text(tokenizer, content))
    ids = torch.tensor([ids], device=next(model.parameters()).device)
    stops = stop_ids(tokenizer)
    was_training = model.training
    model.eval()
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=max_new_tokens,
        **(sampling if temperature > 0 else {"do_sample": False}),
        eos_token_id=stops,
        pad_token_id=tokenizer.pad_token_id,
    )[0, ids.shape[1] :].tolist()
    model.train(was_training)
    end = next((i for i, token in enumerate(out) if token in stops), None)
    if end is not None:
        out = out[:end]
    return storable(tokenizer.decode(out, skip_special_tokens=True)), end is not None


def storable(text: str) -> str:
    """``text`` as the app can store it: a byte-level tokenizer may decode a NUL character,
    which PostgreSQL's text refuses (the whole report would be refused with it); it becomes
    U+FFFD, the replacement character, so the output still shows that something was there."""
    return text.replace("\x00", "\ufffd")


def score(item: DatasetItem, output: str) -> dict[str, float | None]:
    """Text metrics against the reference, and the share of the item's constraints passed."""
    scores: dict[str, float | None] = dict(metrics.text_scores(output, item.content.output))
    refs = [c.model_dump() for c in item.content.constraints]
    if refs:
        verdicts = [v.passed for _ref, v in constraints.check_all(refs, output)]
        scores["constraints_passed"] = sum(verdicts) / len(verdicts)
        scores["prompt_passed"] = float(all(verdicts))
    else:
        scores["constraints_passed"] = scores["prompt_passed"] = None
    return scores
