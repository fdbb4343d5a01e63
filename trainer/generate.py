"""Generation jobs (``app.core.generation``): load the model, read the job's inputs, generate in
batches and send what the model wrote back as it goes; the app turns it into drafts.

- ``draft``: each item's prompt under the chat template; the answer is its output.
- ``paraphrase``: ask the model to rewrite the instruction (``generation_prompts``).
- ``back_translate``: translate the instruction into the other language and back.
- ``bootstrap``: Self-Instruct rounds: few-shot prompts of sampled instructions (the project's
  approved tasks, and those kept in earlier rounds), continued as plain text; the candidates go
  to the app, which filters them and answers with what it kept.
- With ``answer``, each new instruction is answered too, under the chat template.
- ``try``: one chat answered by the model the fine-tune started from, then by its tuned model.

A heartbeat goes out every few seconds from a thread beside the work (so loading a model or a
long batch never lets the lease run out; its reply may ask the job to stop, which the job
does between batches) and after every batch; answers already sent stay written when a job is
cancelled or fails, and a retry reads only the inputs still pending.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from app.core import generation_prompts as prompts
from app.core import protocol, selfinstruct
from app.core.generation import (
    Candidate,
    GenerationBatch,
    GenerationInput,
    GenerationResult,
    GenerationSpec,
)
from app.core.job_paths import JobFolder
from app.core.kinds import ItemContent
from app.core.prompts import Message, prompt_messages
from trainer.client import AppClient
from trainer.evaluate import stop_ids, storable
from trainer.reporter import HEARTBEAT_SECONDS
from trainer.start import load_start
from trainer.turns import tokenize

log = logging.getLogger("trainer")


class Generator:
    """A loaded model that completes prompts in batches, left-padded."""

    def __init__(self, model, tokenizer, spec: GenerationSpec) -> None:
        self.model, self.tokenizer, self.spec = model.eval(), tokenizer, spec
        self.stops = stop_ids(tokenizer)
        self.device = next(model.parameters()).device

    def chat(self, conversations: Sequence[list[Message]]) -> list[tuple[str, bool]]:
        """The assistant's answer to each conversation (the chat template's generation
        prompt), and whether it stopped at an end of turn."""
        texts = [
            self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
            for m in conversations
        ]
        return self.complete(texts)

    @torch.no_grad()
    def complete(self, texts: Sequence[str]) -> list[tuple[str, bool]]:
        """The continuation of each text, ``spec.batch_size`` at a time."""
        out: list[tuple[str, bool]] = []
        for start in range(0, len(texts), self.spec.batch_size):
            out.extend(self._batch(texts[start : start + self.spec.batch_size]))
        return out

    def _batch(self, texts: Sequence[str]) -> list[tuple[str, bool]]:
        rows = [tokenize(self.tokenizer, text) for text in texts]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor(
            [[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device
        )
        spec = self.spec
        sampling = (
            {"do_sample": True, "temperature": spec.temperature, "top_p": spec.top_p}
            if spec.temperature > 0
            else {"do_sample": False}
        )
        generated = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=spec.max_new_tokens,
            eos_token_id=self.stops,
            pad_token_id=pad,
            **sampling,
        )[:, width:].tolist()
        results = []
        for tokens in generated:
            end = next((i for i, t in enumerate(tokens) if t in self.stops), None)
            kept = tokens[:end] if end is not None else tokens
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            results.append((storable(text).strip(), end is not None))
        return results


class Link:
    """The job's link to the app: batches of results, heartbeats (cancel), log lines."""

    def __init__(self, client: AppClient, spec: protocol.JobSpec) -> None:
        self.client, self.spec = client, spec
        self.cancel = False
        self.last_beat = 0.0
        self.step = 0
        self.total: int | None = None
        self._lock = threading.Lock()  # the pulse thread beats too

    def say(self, line: str) -> None:
        batch = protocol.LogBatch(attempt=self.spec.attempt, lines=[line[:2000]])
        self.client.logs(self.spec.job_id, batch)

    def beat(self, *, total: int | None = None, force: bool = False) -> bool:
        """A heartbeat when one is due (or ``force``); True once the app asked to stop."""
        with self._lock:
            self.total = total or self.total
            if force or time.monotonic() - self.last_beat >= HEARTBEAT_SECONDS:
                self.last_beat = time.monotonic()
                beat = protocol.Heartbeat(
                    attempt=self.spec.attempt, step=self.step, total_steps=self.total
                )
                self.cancel = self.client.heartbeat(self.spec.job_id, beat).cancel or self.cancel
            return self.cancel

    @contextmanager
    def pulse(self) -> Iterator[None]:
        """Heartbeats from a thread while the block runs (a model loading, a long batch)."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                try:
                    self.beat()
                except Exception:  # noqa: BLE001 - the next beat, or the work, will tell
                    log.warning("a heartbeat failed; trying again", exc_info=True)

        thread = threading.Thread(target=run, name="heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def send(self, **fields) -> protocol.GenerationReply:
        batch = GenerationBatch(attempt=self.spec.attempt, **fields)
        return self.client.generations(self.spec.job_id, batch)


def run_generation(client: AppClient, spec: protocol.JobSpec) -> None:
    """Run one generation job to its end (complete, or cancelled as asked)."""
    link = Link(client, spec)
    with link.pulse():
        _run(client, spec, link)


def _run(client: AppClient, spec: protocol.JobSpec, link: Link) -> None:
    gen = spec.generation
    if gen.task == "try":
        _try(client, spec, link)
        return
    inputs = client.inputs(spec.job_id, spec.attempt)
    link.say(f"{gen.task}: {len(inputs)} inputs")
    folder = JobFolder(Path(spec.artifact_dir))
    folder.path.mkdir(parents=True, exist_ok=True)
    if spec.start_from:
        link.say(f"generating with the model of job {spec.start_from.job_id}")
    texts = [_text(i) for i in inputs]
    model, tokenizer = load_start(spec, texts, folder)
    torch.manual_seed(gen.seed)
    generator = Generator(model, tokenizer, gen)
    link.beat(force=True)
    run = {"bootstrap": _bootstrap, "draft": _draft}.get(gen.task, _augment)
    run(generator, link, inputs)
    if link.cancel:
        client.cancelled(spec.job_id, protocol.Heartbeat(attempt=spec.attempt, step=link.step))
        return
    client.complete(spec.job_id, protocol.Completion(attempt=spec.attempt))


def _text(item: GenerationInput) -> str:
    c = item.content
    return "\n".join(str(c.get(k) or "") for k in ("system", "instruction", "input", "output"))


def _chunks(rows: Sequence, size: int):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _draft(
    generator: Generator, link: Link, inputs: Sequence[GenerationInput], *, counts: bool = True
) -> None:
    """Answer each item's prompt; each batch is written as it comes (``counts``: each is a
    step of the job's progress; a bootstrap's answers are not: it counts prompts)."""
    for chunk in _chunks(inputs, generator.spec.batch_size):
        if link.beat():
            return
        answers = generator.chat(
            [prompt_messages(ItemContent.model_validate(i.content)) for i in chunk]
        )
        results = [
            GenerationResult(input_id=i.input_id, output=text, finished=done)
            for i, (text, done) in zip(chunk, answers, strict=True)
        ]
        link.send(results=results)
        link.step += len(chunk) if counts else 0
        link.beat(force=True)


def _rewrite(generator: Generator, link: Link, chunk: Sequence[GenerationInput]) -> list[str]:
    """Each item's instruction, paraphrased or translated there and back."""
    contents = [i.content for i in chunk]
    if generator.spec.task == "paraphrase":
        asks = [
            prompts.paraphrase_messages(c["instruction"], language=c.get("language") or "en")
            for c in contents
        ]
        return [prompts.clean_reply(t) for t, _ in generator.chat(asks)]
    pivots = [prompts.back_translation_pivot(c.get("language") or "en") for c in contents]
    there = generator.chat(
        [
            prompts.translate_messages(c["instruction"], source=c.get("language") or "en", target=p)
            for c, p in zip(contents, pivots, strict=True)
        ]
    )
    back = generator.chat(
        [
            prompts.translate_messages(
                prompts.clean_reply(t), source=p, target=c.get("language") or "en"
            )
            for (t, _), c, p in zip(there, contents, pivots, strict=True)
        ]
    )
    return [prompts.clean_reply(t) for t, _ in back]


def _augment(generator: Generator, link: Link, inputs: Sequence[GenerationInput]) -> None:
    for chunk in _chunks(inputs, generator.spec.batch_size):
        if link.beat():
            return
        instructions = _rewrite(generator, link, chunk)
        outputs: list[str | None] = [None] * len(chunk)
        # Answered only where the rewrite left an instruction (an empty one is turned down).
        asked = [
            (n, i, new) for n, (i, new) in enumerate(zip(chunk, instructions, strict=True)) if new
        ]
        if generator.spec.answer and asked:
            answers = generator.chat([_asked(i, new) for _, i, new in asked])
            for (n, _, _), (text, _done) in zip(asked, answers, strict=True):
                outputs[n] = text
        results = [
            GenerationResult(input_id=i.input_id, instruction=new, output=out)
            for i, new, out in zip(chunk, instructions, outputs, strict=True)
        ]
        link.send(results=results)
        link.step += len(chunk)
        link.beat(force=True)


def _asked(item: GenerationInput, instruction: str) -> list[Message]:
    """The prompt of ``item`` with its instruction replaced."""
    content = ItemContent.model_validate({**item.content, "instruction": instruction, "output": ""})
    return prompt_messages(content)


def _bootstrap(generator: Generator, link: Link, inputs: Sequence[GenerationInput]) -> None:
    """Self-Instruct rounds: each prompt shows ``few_shot`` instructions, mostly the people's
    (the paper: 6 of 8) and the rest kept in earlier rounds, and asks for the next ones."""
    spec = generator.spec
    rng = random.Random(spec.seed)
    seeds = [i.content["instruction"] for i in inputs if i.content.get("instruction")]
    language = _language(inputs)
    machine: list[str] = []
    total = spec.rounds * spec.prompts_per_round
    for round_ in range(1, spec.rounds + 1):
        link.say(f"round {round_}: {spec.prompts_per_round} prompts")
        for chunk in _chunks(range(spec.prompts_per_round), spec.batch_size):
            if link.beat(total=total):
                return
            texts = [_few_shot(rng, seeds, machine, spec.few_shot, language) for _ in chunk]
            continuations = generator.complete([t for t, _ in texts])
            candidates, unreadable = [], 0
            for (_, first), (text, _done) in zip(texts, continuations, strict=True):
                found = selfinstruct.parse_candidates(text, first_number=first, language=language)
                unreadable += not found
                candidates += [Candidate(round=round_, instruction=c[:20_000]) for c in found]
            reply = link.send(candidates=candidates, unreadable=unreadable)
            machine += [k.content["instruction"] for k in reply.kept]
            if spec.answer and reply.kept:
                _draft(generator, link, reply.kept, counts=False)
            link.step += len(chunk)
            link.beat(total=total, force=True)


def _few_shot(
    rng: random.Random, seeds: list[str], machine: list[str], n: int, language: str
) -> tuple[str, int]:
    """A prompt of ``n`` sampled instructions (a quarter from earlier rounds, when there are
    any), and the number of the task the model writes first."""
    from_machine = min(len(machine), n // 4)
    shown = rng.sample(seeds, min(len(seeds), n - from_machine)) + rng.sample(machine, from_machine)
    rng.shuffle(shown)
    return selfinstruct.bootstrap_prompt(shown, language=language), len(shown) + 1


def _language(inputs: Sequence[GenerationInput]) -> str:
    """The language most of the example tasks are in, among those prompts exist for."""
    counts: dict[str, int] = {}
    for item in inputs:
        try:
            code = prompts.generation_language(item.content.get("language") or "en")
        except prompts.UnsupportedLanguage:
            continue
        counts[code] = counts.get(code, 0) + 1
    return max(counts, key=counts.get) if counts else "en"


def _try(client: AppClient, spec: protocol.JobSpec, link: Link) -> None:
    """The starting model's answer, then the tuned model's, to the try's chat."""
    from trainer.start import starting_weights

    if spec.start_from is None:
        raise RuntimeError("A try answers with a finished job's model, and this one names none.")
    folder = JobFolder(Path(spec.artifact_dir))
    tuned, tokenizer = load_start(spec, [], folder)
    base = starting_weights(spec, JobFolder(Path(spec.start_from.artifact_dir)), seen=set())
    gen = spec.generation
    torch.manual_seed(gen.seed)
    answers = {}
    for step, (name, model) in enumerate((("base", base), ("tuned", tuned)), start=1):
        answers[name] = Generator(model, tokenizer, gen).chat([gen.messages])[0][0]
        link.step = step
        if link.beat(total=2, force=True):
            client.cancelled(spec.job_id, protocol.Heartbeat(attempt=spec.attempt, step=step))
            return
    link.send(answers=answers)
    client.complete(spec.job_id, protocol.Completion(attempt=spec.attempt))
