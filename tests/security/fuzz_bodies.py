"""Request bodies the fuzzer could not guess: for each operation that checks its body, bodies
that pass its rules (ids and versions filled in from the seeded rows afterwards), so every
operation reaches a success as well as its refusals."""

from __future__ import annotations

from hypothesis import strategies as st

from app.core.status import REASONS
from app.evaluation.judging import REASONS as EVAL_REASONS
from tests.preflight_factories import report_body
from tests.security.fuzz_data import Seeded

# ---- What no generator guesses ---------------------------------------------------------------

_CHARS = st.characters(exclude_categories=("Cs", "Cc"))


def _text(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[str]:
    words = st.text(_CHARS, min_size=min_size, max_size=max_size)
    return words.filter(str.strip) if min_size else words


def _item_body() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"kind": st.just("task"), "instruction": _text(), "output": _text(), "version": st.just(1)},
        optional={
            "input": _text(0),
            "submit": st.booleans(),
            "difficulty": st.integers(1, 5),
            "tags": st.lists(st.from_regex(r"\A[a-z]{1,10}\Z"), max_size=3),
        },
    )


def _report(**fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A worker report; ``attempt`` is set from the job once its id is chosen."""
    return st.fixed_dictionaries({"attempt": st.just(1), **fields})


def good_bodies(seeded: Seeded) -> dict[str, st.SearchStrategy[dict]]:
    """Operation -> bodies that pass its rules (ids and versions are filled in afterwards)."""
    item_id = st.sampled_from(seeded.version_items)
    worker = "POST /api/v1/worker/jobs/{job_id}"
    check = "POST /api/v1/worker/preflights/{preflight_id}"
    return {
        "POST /api/v1/projects/{project_id}/items": _item_body(),
        "PUT /api/v1/items/{item_id}": _item_body(),
        "POST /api/v1/projects/{project_id}/assignments": st.fixed_dictionaries(
            {
                # (a toy run seeds no items: any id then, which answers 404)
                "item_ids": st.lists(st.sampled_from(seeded.ids.get("item_id") or [1]), min_size=1),
                "task": st.sampled_from(["write", "label", "fix"]),
                "emails": st.just(["fuzz-author@example.org"]),
            }
        ),
        "POST /api/v1/projects/{project_id}/assignments/remove": st.fixed_dictionaries(
            {
                "item_ids": st.lists(st.sampled_from(seeded.ids.get("item_id") or [1]), min_size=1),
                "task": st.sampled_from(["write", "label", "fix", "review"]),
            }
        ),
        "PATCH /api/v1/projects/{project_id}/members/{user_id}": st.fixed_dictionaries(
            {"quota": st.one_of(st.none(), st.integers(1, 100))}
        ),
        "POST /api/v1/projects/{project_id}/members": st.fixed_dictionaries(
            {
                "user_id": st.just(0),  # the newcomer's id, filled in afterwards
                "role": st.sampled_from(["annotator", "reviewer", "manager"]),
            }
        ),
        "POST /api/v1/items/{item_id}/review": st.fixed_dictionaries(
            {
                "decision": st.sampled_from(["approve", "reject", "request_changes"]),
                "version": st.just(1),
                "reason": st.sampled_from(sorted(REASONS)),
                "comment": _text(0),
            }
        ),
        "POST /api/v1/items/{item_id}/reopen": st.fixed_dictionaries(
            {
                "reason": st.sampled_from(sorted(REASONS)),
                "comment": _text(0),
                "link": st.sampled_from([None, "/jobs/1", "https://example.org/runs/1"]),
            }
        ),
        "POST /api/v1/items/{item_id}/restore": st.fixed_dictionaries(
            {"revision": st.just(1), "version": st.just(1)}  # the item's version, filled in
        ),
        # The seeded version holds no preference pairs: SFT, on the base model.
        "POST /api/v1/jobs": st.fixed_dictionaries(
            {"dataset_version_id": st.just(0), "base_model": st.just("tiny")},  # id filled in
            optional={"params": st.fixed_dictionaries({"objective": st.just("sft")})},
        ),
        "POST /api/v1/jobs/{job_id}/send-back": st.fixed_dictionaries(
            {"item_ids": st.lists(item_id, min_size=1, max_size=3), "comment": _text(0)}
        ),
        f"{worker}/logs": _report(lines=st.lists(_text(), min_size=1, max_size=4)),
        f"{worker}/dynamics": _report(
            points=st.lists(
                st.fixed_dictionaries(
                    {
                        "item_id": item_id,
                        "epoch": st.integers(0, 5),
                        "loss": st.floats(0, 10),
                        "confidence": st.floats(0, 1),
                    }
                ),
                min_size=1,
                max_size=4,
            )
        ),
        f"{worker}/predictions": _report(
            predictions=st.lists(
                st.fixed_dictionaries(
                    {
                        "item_id": item_id,
                        "kind": st.just("task"),
                        "reference": _text(0),
                        "base_output": _text(0),
                        "tuned_output": _text(0),
                        "scores": st.dictionaries(
                            st.sampled_from(["f1", "rouge_l", "exact"]), st.floats(0, 1)
                        ),
                    }
                ),
                min_size=1,
                max_size=3,
            )
        ),
        f"{worker}/complete": _report(metrics=st.just({"steps": 4}), artifacts=st.just([])),
        "POST /api/v1/projects/{project_id}/rounds": st.fixed_dictionaries(
            {
                "name": _text(),
                "a": st.just(f"{seeded.eval_job}:tuned"),
                "b": st.sampled_from([f"{seeded.eval_job}:base", "reference"]),
            },
            optional={
                "mode": st.sampled_from(["pairwise", "rating"]),
                "overlap": st.integers(1, 3),
                "limit": st.integers(1, 5),
                "seed": st.integers(0, 1000),
            },
        ),
        "POST /api/v1/rounds/{round_id}/judgments": st.fixed_dictionaries(
            {
                "prompt_id": st.just(0),  # the open round's prompt, filled in afterwards
                "choice": st.sampled_from(["first", "second", "tie", "both_bad"]),
            },
            optional={
                "reasons": st.lists(st.sampled_from(sorted(EVAL_REASONS)), max_size=2),
                "comment": _text(0),
            },
        ),
        "POST /api/v1/rounds/{round_id}/close": st.fixed_dictionaries({"version": st.none()}),
        "POST /api/v1/rounds/{round_id}/pairs": st.fixed_dictionaries(
            {"rule": st.sampled_from(["unanimous", "majority"])},
            optional={"min_judgments": st.integers(1, 3)},
        ),
        # The closed round compares the tuned outputs (A) with the reference (B, a person's).
        "POST /api/v1/rounds/{round_id}/prompts/{prompt_id}/improve": st.fixed_dictionaries(
            {"side": st.just("a"), "chosen": _text()}
        ),
        "POST /api/v1/jobs/{job_id}/predictions/{item_id}/improve": st.fixed_dictionaries(
            {"side": st.sampled_from(["base", "tuned"]), "chosen": _text()}
        ),
        f"{worker}/fail": _report(error=_text()),
        # The same body as a launch's; the answers of the check the fuzzing worker runs.
        "POST /api/v1/preflights": st.fixed_dictionaries(
            {"dataset_version_id": st.just(0), "base_model": st.just("tiny")},  # id filled in
            optional={"params": st.fixed_dictionaries({"objective": st.just("sft")})},
        ),
        f"{check}/report": item_id.map(report_body),
        f"{check}/fail": st.fixed_dictionaries({"error": _text()}),
        f"{worker}/cancelled": _report(step=st.integers(0, 4)),
        f"{worker}/generations": _report(results=st.just([])),
        "POST /api/v1/jobs/{job_id}/try": st.fixed_dictionaries({"prompt": _text()}),
    }
