"""Constraint checkers on adversarial text: each checker's time at 1 MB over its time at 100 kB.

A linear checker takes about 10× as long on ten times the text; a quadratic one about 100×.
Every checker of the registry runs on the same families of text that
``tests/security/test_redos.py`` uses (runs of newlines, spaces, bullet-like prefixes, brackets,
repeated punctuation, CJK), and so do the other functions that read user text (import cleaning,
sentences, words). Prints one JSON object; progress goes to stderr.

    .venv/bin/python bench/constraints.py
    .venv/bin/python bench/constraints.py --only detectable_format:title --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.constraints import REGISTRY, check, param_fields, validate_params  # noqa: E402
from app.core.constraints import text as sentences  # noqa: E402
from app.core.formats import cleaning  # noqa: E402

# name -> (prefix, unit): the prefix, then the unit repeated up to the size (in characters).
FAMILIES: dict[str, tuple[str, str]] = {
    "newlines": ("", "\n"),
    "spaces": ("", " "),
    "blank_lines": ("", " \t\n"),
    "bullet_prefixes": ("", "  *\n- "),
    "asterisks": ("", "*"),
    "brackets": ("", "["),
    "angle_brackets": ("", "<"),
    "html_comment_openers": ("", "<!--"),
    "postscript_prefixes": ("", "p. p. p.\n"),
    "exclamations": ("Hi", "!"),
    "tiny_sentences": ("", "a. "),
    "quote_then_spaces": ('A."', " "),
    "punctuation": ("", ",:;?"),
    "quotes": ("", '"'),
    "dashes": ("", "-"),
    "letters": ("", "a"),
    "spaced_letters": ("", "a "),
    "cjk": ("", "中"),
    "cjk_sentence_enders": ("", "中。！？”"),
    "numbered_sentences": ("", ""),  # "a1. a2. a3. …": no two alike
    "english": ("", "Write a short poem about the sea, in *three* lines. P.S. Thanks!\n"),
}
PARAMS: dict[str, dict[str, Any]] = {
    "detectable_content:postscript": {"postscript_marker": "P.P.S"},
    "detectable_format:multiple_sections": {"section_spliter": "SECTION", "num_sections": 2},
    # Long keywords that almost match the runs of letters at every position.
    "keywords:existence": {"keywords": [f"{'a' * (199 - n)}b" for n in range(50)]},
    "keywords:frequency": {"keyword": f"{'a' * 199}b", "frequency": 1, "relation": "at least"},
    "keywords:forbidden_words": {"forbidden_words": [f"{'a ' * (99 - n)}b" for n in range(50)]},
}
LINEAR_BELOW = 20  # a ratio under this is linear growth with noise; quadratic gives about 100


def text_of(family: str, size: int) -> str:
    prefix, unit = FAMILIES[family]
    if not unit:
        return " ".join(f"a{number}." for number in range(size // 8))[:size]
    return prefix + unit * ((size - len(prefix)) // len(unit))


def params_for(constraint_id: str) -> dict[str, Any]:
    if constraint_id in PARAMS:
        return PARAMS[constraint_id]
    params: dict[str, Any] = {}
    for field in param_fields(constraint_id):
        if field["type"] == "int":
            params[field["name"]] = field.get("min", 1)
        elif field["type"] == "choice":
            params[field["name"]] = field["choices"][0]["value"]
        else:
            params[field["name"]] = ["a"] if field["type"] == "str_list" else "a"
    return validate_params(constraint_id, params)


def best_time(run: Callable[[str], Any], text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(text)
        best = min(best, time.perf_counter() - start)
    return best


def measure(run: Callable[[str], Any], sizes: tuple[int, int], repeats: int) -> dict[str, Any]:
    """Per family and in total, the time at each size and the ratio of the two."""
    small, large = sizes
    families = {}
    for family in FAMILIES:
        t_small = best_time(run, text_of(family, small), repeats)
        t_large = best_time(run, text_of(family, large), repeats)
        families[family] = {
            "small_s": round(t_small, 5),
            "large_s": round(t_large, 5),
            "ratio": round(t_large / t_small, 1) if t_small > 0 else None,
        }
    total_small = sum(f["small_s"] for f in families.values())
    total_large = sum(f["large_s"] for f in families.values())
    # The worst family among those slow enough to time (a millisecond at the small size).
    timed = {name: f for name, f in families.items() if f["small_s"] >= 0.001}
    worst = max(timed, key=lambda name: timed[name]["ratio"], default=None)
    return {
        "small_s": round(total_small, 4),
        "large_s": round(total_large, 4),
        "ratio": round(total_large / total_small, 1),
        "worst_family": worst,
        "worst_family_ratio": timed[worst]["ratio"] if worst else None,
        "families": families,
    }


def checker(constraint_id: str) -> Callable[[str], Any]:
    params = params_for(constraint_id)
    return lambda text: check(constraint_id, text, params)


HELPERS: dict[str, Callable[[str], Any]] = {
    "cleaning.clean (every rule)": lambda text: cleaning.clean(text, cleaning.RULES),
    "text.split_sentences": sentences.split_sentences,
    "text.word_tokens": sentences.word_tokens,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="small,large in characters")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--only", action="append", help="a checker id (repeatable)")
    args = parser.parse_args()
    small, large = (int(n) for n in args.sizes.split(","))
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    checkers = {}
    for constraint_id in args.only or REGISTRY:
        print(f"{constraint_id}…", file=sys.stderr, flush=True)
        checkers[constraint_id] = measure(checker(constraint_id), (small, large), args.repeats)
    helpers = {}
    if not args.only:
        for name, run in HELPERS.items():
            print(f"{name}…", file=sys.stderr, flush=True)
            helpers[name] = measure(run, (small, large), args.repeats)
    measured = {**checkers, **helpers}
    worst = max(measured, key=lambda name: measured[name]["ratio"])
    worst_family = max(
        measured, key=lambda name: measured[name]["worst_family_ratio"] or 0, default=None
    )
    report = {
        "benchmark": "constraints",
        "sizes_chars": [small, large],
        "repeats": args.repeats,
        "ratio_by_checker": {name: m["ratio"] for name, m in checkers.items()},
        "ratio_by_helper": {name: m["ratio"] for name, m in helpers.items()},
        "large_s_by_checker": {name: m["large_s"] for name, m in checkers.items()},
        "worst": {"name": worst, "ratio": measured[worst]["ratio"]},
        "worst_family": {
            "name": worst_family,
            "family": measured[worst_family]["worst_family"],
            "ratio": measured[worst_family]["worst_family_ratio"],
        },
        "budget": {
            "linear_ratio_below": LINEAR_BELOW,
            "met": all(
                m["ratio"] < LINEAR_BELOW and (m["worst_family_ratio"] or 0) < LINEAR_BELOW
                for m in measured.values()
            ),
        },
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg()[0],
        "total_s": round(time.perf_counter() - started, 1),
        "detail": measured,
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
