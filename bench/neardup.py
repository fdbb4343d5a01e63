"""Near-duplicate index benchmark: MinHash throughput and LSH candidates among the seed tasks.

Prints one JSON object. Run as ``.venv/bin/python bench/neardup.py``; the seed tasks are read from
``$STUDIO_TEST_DATA/seed_tasks.jsonl`` (default ``../shared/data``) when the file exists.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.neardup import (  # noqa: E402
    BANDS,
    DEFAULT_HASHER,
    ROWS,
    band_keys,
    candidate_probability,
    exact_jaccard,
    item_text,
    shingles,
)

WORD_LIST = (
    "write explain summarize translate list describe compare classify the a an of to in for on "
    "with and or but story poem email letter essay report recipe plan table code function bug "
    "customer product review movie book city travel health diet exercise budget meeting team "
    "project deadline weather ocean forest mountain river history science music art game"
)
WORDS = WORD_LIST.split()
SYNTHETIC_TEXTS = 10_000
WORDS_PER_TEXT = 40


def synthetic_texts() -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choices(WORDS, k=WORDS_PER_TEXT)) for _ in range(SYNTHETIC_TEXTS)]


def throughput(texts: list[str]) -> dict:
    start = time.perf_counter()
    shingle_sets = [shingles(text) for text in texts]
    shingled = time.perf_counter()
    signatures = [DEFAULT_HASHER.signature(hashes) for hashes in shingle_sets]
    signed = time.perf_counter()
    for signature in signatures:
        band_keys(signature)
    keyed = time.perf_counter()
    return {
        "texts": len(texts),
        "words_per_text": WORDS_PER_TEXT,
        "mean_shingles": round(sum(map(len, shingle_sets)) / len(texts), 1),
        "shingles_per_s": round(len(texts) / (shingled - start)),
        "signatures_per_s": round(len(texts) / (signed - shingled)),
        "band_keys_per_s": round(len(texts) / (keyed - signed)),
        "text_to_keys_per_s": round(len(texts) / (keyed - start)),
        "ms_per_text_to_keys": round((keyed - start) / len(texts) * 1000, 4),
    }


def hundred_word_ms() -> dict:
    rng = random.Random(1)
    text = " ".join(rng.choices(WORDS, k=100))
    hashes = shingles(text)
    runs = 500
    start = time.perf_counter()
    for _ in range(runs):
        shingles(text)
    shingled = time.perf_counter()
    for _ in range(runs):
        DEFAULT_HASHER.signature(hashes)
    signed = time.perf_counter()
    return {
        "shingles": len(hashes),
        "shingles_ms": round((shingled - start) / runs * 1000, 4),
        "signature_ms": round((signed - shingled) / runs * 1000, 4),
    }


def seed_tasks_report(path: Path) -> dict:
    tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts = [
        item_text(task["instruction"], instance["input"], instance["output"])
        for task in tasks
        for instance in task["instances"][:1]  # exactly one instance per seed task
    ]
    shingle_sets = [shingles(text) for text in texts]
    buckets: defaultdict[tuple[int, int], list[int]] = defaultdict(list)
    for index, hashes in enumerate(shingle_sets):
        for band, key in enumerate(band_keys(DEFAULT_HASHER.signature(hashes))):
            buckets[band, key].append(index)
    candidates = {pair for members in buckets.values() for pair in combinations(members, 2)}
    # All pairs exactly, to see what the banding misses.
    exact = {
        (a, b): exact_jaccard(shingle_sets[a], shingle_sets[b])
        for a, b in combinations(range(len(texts)), 2)
    }
    # Over all pairs, not only candidates: distinct tasks may share no band key at all.
    ranked = sorted(exact, key=lambda pair: exact[pair], reverse=True)
    return {
        "tasks": len(tasks),
        "all_pairs": len(exact),
        "lsh_candidate_pairs": len(candidates),
        "pairs_with_jaccard_ge_0.5": sum(value >= 0.5 for value in exact.values()),
        "of_those_candidates": sum(exact[pair] >= 0.5 for pair in candidates),
        "top5_pairs": [
            {
                "a": tasks[a]["name"],
                "b": tasks[b]["name"],
                "similarity": round(exact[a, b], 4),
                "lsh_candidate": (a, b) in candidates,
            }
            for a, b in ranked[:5]
        ],
    }


def main() -> None:
    report = {
        "bands": BANDS,
        "rows": ROWS,
        "candidate_probability": {s: round(candidate_probability(s), 4) for s in (0.3, 0.5, 0.8)},
        "synthetic": throughput(synthetic_texts()),
        "hundred_words": hundred_word_ms(),
    }
    data_dir = Path(os.environ.get("STUDIO_TEST_DATA", ROOT.parent / "shared" / "data"))
    seed_path = data_dir / "seed_tasks.jsonl"
    report["seed_tasks"] = seed_tasks_report(seed_path) if seed_path.exists() else None
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
