"""Slow-text attacks on the constraint checkers and the other code that reads user text:
about 1 MB of adversarial text (runs of newlines, spaces, bullet-like prefixes, brackets,
repeated punctuation, CJK) must not hang a checker. A quadratic regex (``^\\s*`` tried at every
line, ``\\[.*?\\]`` or ``<<[^\\n]+>>`` scanning to the end of the line from every opener) takes
hours on such text; a linear one takes seconds.

Every checker in the registry runs, so a new checker is covered without editing this file. Each
runs in a child process; the guard is a generous hang guard per text, not a timing assertion.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from app.core.constraints import REGISTRY, param_fields, validate_params

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 60
SIZE = 1_000_000

# name -> (prefix, unit): the text is the prefix, then the unit repeated up to SIZE characters.
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
}

# Parameters that reach each branch of a checker; the rest come from the registry's form fields.
PARAMS: dict[str, list[dict[str, Any]]] = {
    "detectable_content:postscript": [
        {"postscript_marker": "P.S."},
        {"postscript_marker": "P.P.S"},
        {"postscript_marker": "Note:"},
    ],
    "detectable_format:multiple_sections": [{"section_spliter": "SECTION", "num_sections": 2}],
    # Long keywords that almost match a run of letters at every position: 200 steps there each.
    "keywords:existence": [{"keywords": [f"{'a' * (199 - n)}b" for n in range(50)]}],
    "keywords:frequency": [{"keyword": f"{'a' * 199}b", "frequency": 1, "relation": "at least"}],
    "keywords:forbidden_words": [
        {"forbidden_words": ["a", "中"]},
        {"forbidden_words": [f"{'a ' * (99 - n)}b" for n in range(50)]},
    ],
}


def text_of(family: str, size: int = SIZE) -> str:
    prefix, unit = FAMILIES[family]
    if not unit:
        return " ".join(f"a{number}." for number in range(size // 8))[:size]
    return prefix + unit * ((size - len(prefix)) // len(unit))


def generated_params(constraint_id: str) -> dict[str, Any]:
    """Valid parameters built from the form fields: the smallest number, one letter, the first
    choice."""
    params: dict[str, Any] = {}
    for field in param_fields(constraint_id):
        if field["type"] == "int":
            params[field["name"]] = field.get("min", 1)
        elif field["type"] == "choice":
            params[field["name"]] = field["choices"][0]["value"]
        elif field["type"] == "str_list":
            params[field["name"]] = ["a"]
        else:
            params[field["name"]] = "a"
    return validate_params(constraint_id, params)


def params_for(constraint_id: str) -> list[dict[str, Any]]:
    return PARAMS.get(constraint_id) or [generated_params(constraint_id)]


CHECKER_CHILD = """
import json, sys
from app.core.constraints import check
from tests.security.test_redos import FAMILIES, text_of
constraint_id, param_sets = sys.argv[1], json.loads(sys.argv[2])
for family in FAMILIES:
    text = text_of(family)
    for params in param_sets:
        check(constraint_id, text, params)
    print(family, flush=True)
"""


def run_guarded(code: str, *args: str, steps: list[str]) -> None:
    """Run ``code`` in a child that prints each step as it finishes; fail when a step takes
    more than GUARD_S seconds or the child fails."""
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in child.stdout], daemon=True
    )
    reader.start()
    try:
        for step in steps:
            try:
                done = lines.get(timeout=GUARD_S).strip()
            except queue.Empty:
                pytest.fail(f"no answer within {GUARD_S} s on {step!r}: it hangs", pytrace=False)
            if done != step:
                child.wait(timeout=GUARD_S)
                pytest.fail(f"the child failed on {step!r}:\n{child.stderr.read()[-3000:]}")
        assert child.wait(timeout=GUARD_S) == 0, child.stderr.read()[-3000:]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_every_checker_is_covered():
    for constraint_id in REGISTRY:
        for params in params_for(constraint_id):
            assert validate_params(constraint_id, params) is not None


@pytest.mark.parametrize("constraint_id", list(REGISTRY))
def test_checker_answers_on_a_megabyte_of_adversarial_text(constraint_id):
    run_guarded(
        CHECKER_CHILD,
        constraint_id,
        json.dumps(params_for(constraint_id)),
        steps=list(FAMILIES),
    )


HELPERS = ("cleaning", "language", "normalised", "shingles")


def helpers() -> dict[str, Any]:
    """The other functions that read user text and no checker runs (sentences, words and the
    word count run in the checkers): import cleaning, the language of an item, the
    normalisation of the metrics, near-duplicate shingles."""
    from app.core import langid, metrics, neardup
    from app.core.formats import cleaning

    functions = [
        lambda value: cleaning.clean(value, cleaning.RULES),
        langid.detect_language,
        metrics.normalize_answer,
        neardup.shingles,
    ]
    return dict(zip(HELPERS, functions, strict=True))


HELPERS_CHILD = """
from tests.security.test_redos import FAMILIES, helpers, text_of
functions = helpers()
for family in FAMILIES:
    text = text_of(family)
    for name, function in functions.items():
        function(text)
        print(family, name, flush=True)
"""


def test_text_helpers_answer_on_a_megabyte_of_adversarial_text():
    """Import cleaning (an unclosed ``<!--`` was scanned to the end from every opener),
    language, normalisation and shingles."""
    steps = [f"{family} {name}" for family in FAMILIES for name in HELPERS]
    run_guarded(HELPERS_CHILD, "helpers", steps=steps)


DIFF_CHILD = """
import random
from app.revisions.service import diff_text
words = "the a of to and in is it you that he was for on are with as".split()
for seed in (1, 2):
    rng = random.Random(seed)
    old = " ".join(rng.choice(words) for _ in range(30_000))
    new = " ".join(rng.choice(words) for _ in range(30_000))
    left, right = diff_text(old, new)
    assert "".join(s.text for s in left) == old and "".join(s.text for s in right) == new
    print(seed, flush=True)
"""


def test_history_diff_of_two_long_outputs_answers():
    """The history page compares two revisions word by word: two unrelated outputs of about
    100,000 characters (within the caps) must not keep it busy for minutes."""
    run_guarded(DIFF_CHILD, "diff", steps=["1", "2"])
