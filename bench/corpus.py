"""The instruction items the scale benchmarks compare on: English built from the vocabulary of
the Self-Instruct seed tasks (``../shared/data/seed_tasks.jsonl``), Zipf-weighted by each word's
rank there, and every tenth item Chinese.

Shape, per item: an instruction of 6-20 words, an input of 0-40 words on two items in three, an
output of 20-120 words. With the seed tasks' 3,400 words (see ``ZIPF_EXPONENT``), a word's share
of items runs from nearly every item ("the") down to 0.1% and below, so searches can be timed
at the frequencies a user meets (``bench/search_words.py`` picks them)."""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from pathlib import Path

from bench.datasets import ZH_VOCAB

ROOT = Path(__file__).resolve().parents[1]
SEED_TASKS = Path(os.environ.get("STUDIO_TEST_DATA", ROOT.parent / "shared" / "data")) / (
    "seed_tasks.jsonl"
)
WORD = re.compile(r"[a-z]+")
# Zipf's exponent for the English words: a little above natural text's ~1, so that the seed
# tasks' 3,400 words reach down to words in 0.1% of items.
ZIPF_EXPONENT = 1.3


def zipf_cum(n: int, exponent: float = 1.0) -> list[float]:
    """Cumulative Zipf weights of ranks 1..n (``random.choices``' ``cum_weights``)."""
    total, cum = 0.0, []
    for rank in range(1, n + 1):
        total += rank**-exponent
        cum.append(total)
    return cum


def seed_vocabulary(path: Path = SEED_TASKS) -> list[str]:
    """The seed tasks' lower-case words, most frequent first."""
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8") as f:
        for line in f:
            task = json.loads(line)
            parts = [task["instruction"]]
            for instance in task["instances"]:
                parts += [instance["input"], instance["output"]]
            counts.update(WORD.findall(" ".join(parts).lower()))
    return [word for word, _ in counts.most_common()]


class SeedCorpus:
    """Deterministic items (``random.Random(seed)``) in the shape the module describes."""

    def __init__(self, seed: int = 0, vocabulary: list[str] | None = None) -> None:
        self.rng = random.Random(seed)
        self.en = vocabulary or seed_vocabulary()
        self.en_cum = zipf_cum(len(self.en), ZIPF_EXPONENT)
        self.zh_cum = zipf_cum(len(ZH_VOCAB))
        self.n = 0

    def _text(self, zh: bool, words: int) -> str:
        rng, out, left = self.rng, [], words
        while left > 0:
            n = min(left, rng.randint(5, 15))
            if zh:
                chosen = rng.choices(ZH_VOCAB, cum_weights=self.zh_cum, k=n)
                out.append("".join(chosen) + rng.choice("。。。，？！"))
            else:
                chosen = rng.choices(self.en, cum_weights=self.en_cum, k=n)
                out.append(" ".join(chosen).capitalize() + rng.choice("....?!"))
            left -= n
        return ("" if zh else " ").join(out)

    def row(self) -> dict[str, str]:
        rng = self.rng
        zh = self.n % 10 == 9
        self.n += 1
        has_input = rng.random() < 2 / 3
        return {
            "instruction": self._text(zh, rng.randint(6, 20)),
            "input": self._text(zh, rng.randint(1, 40)) if has_input else "",
            "output": self._text(zh, rng.randint(20, 120)),
        }


def write_rows(path: Path, rows: int, seed: int = 0) -> Path:
    corpus = SeedCorpus(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(rows):
            f.write(json.dumps(corpus.row(), ensure_ascii=False) + "\n")
    return path
