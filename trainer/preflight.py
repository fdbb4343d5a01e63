"""A pre-flight check of a launch's settings (``app.core.preflight``), run by a worker in
seconds, in the order a job's own steps run (``trainer.job``, whose functions it calls):

1. load the version's data, checked against its manifest, and what the objective learns from;
2. load the starting model and tokenizer (for ``tiny``, built from the data: seconds);
3. encode every training item as the job would (SFT's examples, or DPO's pairs) and count
   what encoding cut or dropped;
4. render one example token by token with the tokens that carry the loss: the first
   conversation that encodes (multi-turn masks are the likeliest to be wrong), else the first
   training item that encodes; for DPO the chosen side of such a pair;
5. train a few steps with the job's settings on this worker's device, on a sample of the
   training items, in a scratch folder deleted afterwards (nothing reaches the artifact
   store): the first step warms up, the others are timed, and on CUDA the peak memory is read.

Any step may fail, as the job would, with the same sentence; the worker reports it as the
check's failure (``trainer.worker``). This module loads torch: the worker imports it only
when it has taken a check.
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from pathlib import Path

import torch

from app.core.devices import WorkerDevice
from app.core.job_paths import JobFolder
from app.core.kinds import ItemKind
from app.core.preflight import (
    MAX_EXAMPLE_TOKENS,
    MAX_TOKEN_CHARS,
    EncodeCounts,
    ExampleRule,
    ExampleToken,
    PeakMemory,
    PreflightReport,
    PreflightSpec,
    RenderedExample,
    StepTiming,
)
from app.core.prompts import DEFAULT_CHAT_TEMPLATE
from app.core.protocol import DatasetItem, JobParams
from app.core.steps import total_steps
from trainer.client import AppClient
from trainer.data import IGNORE, Example, encode_example
from trainer.job import learnable_items, load_data, make_objective
from trainer.ranks import device_for_rank
from trainer.start import load_start
from trainer.train import make_objective as objective_over
from trainer.train import train


def run_preflight(
    client: AppClient, spec: PreflightSpec, device: WorkerDevice | None
) -> PreflightReport:
    """Check ``spec``'s settings on this worker (``device``: what it reported)."""
    try:
        with tempfile.TemporaryDirectory(prefix="preflight-") as scratch:
            return _check(client, spec, device or _probe(), scratch)
    finally:
        # The check's model is gone with _check's frame: hand its memory back before the
        # next job loads its own.
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _check(
    client: AppClient, spec: PreflightSpec, device: WorkerDevice, scratch: str
) -> PreflightReport:
    started = time.perf_counter()
    job = spec.job_spec(scratch)
    data = load_data(client, job)
    learnable = learnable_items(job, data)
    model, tokenizer = load_start(job, data.texts(), JobFolder(Path(scratch)))
    objective = make_objective(job, tokenizer, learnable, data)
    if not len(objective):
        raise ValueError(objective.empty)  # as the job's training refuses it
    example = pick_example(tokenizer, learnable.train, objective, spec.params)
    batches = objective.batches(model, spec.params)  # the job's own micro-batches
    steps = total_steps(spec.params, rows=len(batches.units), rows_per_batch=batches.size)
    timing, peak = time_steps(model, tokenizer, learnable.train, spec, steps)
    stats = objective.stats
    own = tokenizer.chat_template != DEFAULT_CHAT_TEMPLATE
    return PreflightReport(
        objective=spec.params.objective,
        chat_template="model" if own else "default",
        counts=EncodeCounts(
            items=len(data.train),
            learnable=len(learnable.train),
            encoded=len(objective),
            truncated_at_turn=stats.truncated_at_turn,
            truncated=stats.truncated,
            dropped=stats.dropped,
            prefix_mismatches=stats.prefix_mismatches,
        ),
        example=example,
        device=device,
        timing=timing,
        memory=peak,
        seconds=time.perf_counter() - started,
    )


def _probe() -> WorkerDevice:
    from trainer.device import probe

    return probe()


# --- 4. one example, token by token ----------------------------------------------------------


def pick_example(tokenizer, items: list[DatasetItem], objective, params: JobParams):
    """The example shown: SFT's encoding of the first conversation that encodes, else of the
    first item that encodes; for DPO, the chosen side of the first such pair."""
    if params.objective == "dpo":
        pairs = objective.pairs  # those that fit, each with its item's position
        talks = [p for p in pairs if items[p.source].content.turns]
        rule: ExampleRule = "first_conversation" if talks else "first_item"
        pair = (talks or pairs)[0]
        item = items[pair.source]
        return rendered(tokenizer, item, pair.chosen, rule, side="chosen")
    talks = [i for i in items if i.content.kind is ItemKind.conversation]
    for rule, pool in (("first_conversation", talks), ("first_item", items)):
        for item in pool:
            example = encode_example(tokenizer, item.content, max_seq_len=params.max_seq_len)
            if example is not None:
                return rendered(tokenizer, item, example, rule)
    raise ValueError("no example fits in max_seq_len")


def rendered(
    tokenizer,
    item: DatasetItem,
    example: Example,
    rule: ExampleRule,
    *,
    side: str = "example",
) -> RenderedExample:
    """``example`` as the report shows it: up to ``MAX_EXAMPLE_TOKENS`` tokens, each with
    its text and whether its label is not ``IGNORE`` (it carries the loss)."""
    ids = example.input_ids[:MAX_EXAMPLE_TOKENS]
    texts = token_texts(tokenizer, ids)
    return RenderedExample(
        item_id=item.item_id,
        kind=str(item.content.kind),
        rule=rule,
        side=side,
        tokens=[
            ExampleToken(id=i, text=text[:MAX_TOKEN_CHARS], loss=label != IGNORE)
            for i, text, label in zip(ids, texts, example.labels, strict=False)
        ],
        total_tokens=len(example),
        loss_tokens=sum(label != IGNORE for label in example.labels),
    )


def _decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def token_texts(tokenizer, ids: list[int]) -> list[str]:
    """Each token's text such that, joined, they are the decoded whole. Decoding a token alone
    would not do: a byte-level piece of a character decodes to U+FFFD, and a SentencePiece
    token loses its leading space at the start of a text. Each token is decoded after the
    token before it (as streaming generation does), and one that ends inside a character
    shows nothing: the character comes with the token that completes it."""
    texts: list[str] = []
    prefix = read = 0  # the window decoded before: ids[prefix:read]
    for end in range(1, len(ids) + 1):
        before = _decode(tokenizer, ids[prefix:read])
        after = _decode(tokenizer, ids[prefix:end])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            texts.append(after[len(before) :])
            prefix, read = read, end
        else:
            texts.append("")
    if texts:  # a character cut at the end: whatever is left goes with the last token
        texts[-1] += _decode(tokenizer, ids[prefix:])[len(_decode(tokenizer, ids[prefix:read])) :]
    return texts


# --- 5. a few timed steps -----------------------------------------------------------------------


def time_steps(
    model, tokenizer, items: list[DatasetItem], spec: PreflightSpec, total: int
) -> tuple[StepTiming, PeakMemory]:
    """``spec.steps`` optimizer steps with the job's settings on a sample of ``items`` (as
    many as those steps read, so DPO's reference pass stays short); the first is not timed.
    ``total``: the job's own optimizer steps."""
    params = spec.params
    wanted = params.batch_size * params.grad_accum * spec.steps
    contents = [i.content for i in items]
    if len(contents) > wanted:
        contents = random.Random(params.seed).sample(contents, wanted)
    settings = params.model_copy(update={"max_steps": spec.steps})
    objective = objective_over(tokenizer, contents, settings)
    if not len(objective):  # the sample drew only items too long to fit: take them all
        objective = objective_over(tokenizer, [i.content for i in items], settings)
    device = device_for_rank()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    marks: list[float] = []

    def on_step(step: int, metrics: dict) -> None:
        if cuda:
            torch.cuda.synchronize(device)  # the step's kernels are done, not just queued
        marks.append(time.perf_counter())

    train(model, tokenizer, objective, settings, on_step=on_step)
    timed = len(marks) - 1
    pace = max((marks[-1] - marks[0]) / timed, 1e-9)
    peak = PeakMemory()
    if cuda:
        peak = PeakMemory(
            peak_bytes=torch.cuda.max_memory_allocated(device), source="cuda_max_allocated"
        )
    return StepTiming(timed_steps=timed, seconds_per_step=pace, total_steps=total), peak
