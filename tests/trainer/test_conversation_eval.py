"""Evaluating conversations: the models answer the final user turn given the earlier turns, the
answer is scored against the final assistant turn, and results show conversations as a kind of
their own."""

from __future__ import annotations

from types import SimpleNamespace

from tokenizers import AddedToken

from app.core import protocol
from app.core.kinds import ItemContent
from app.items.schemas import ItemDraft
from app.jobs.results import by_kind
from app.models import EvalPrediction
from tests.dataset_factories import DRAFTS
from tests.helpers import login
from tests.job_factories import run_job
from trainer.client import AppClient
from trainer.evaluate import prompt_text, score, stop_ids, storable
from trainer.job import evaluate

from .test_conversation_masks import CHATML, CHINESE, ENGLISH

FINAL = ENGLISH.turns[-1].content


class Recording(AppClient):
    """The real client, with what it would post kept instead of sent."""

    def __init__(self) -> None:
        super().__init__("http://app.invalid", "st_test")
        self.sent: list[tuple[str, object]] = []

    def _post(self, path, body):
        self.sent.append((path, body))
        return SimpleNamespace(json=lambda: {"cancel": False, "lease_seconds": 120})


def test_the_eval_prompt_holds_the_earlier_turns_and_not_the_final_answer(tokenizer):
    prompt = prompt_text(tokenizer, ENGLISH)
    assert FINAL not in prompt
    assert ENGLISH.system in prompt
    for turn in ENGLISH.turns[:-1]:
        assert turn.content in prompt
    assert prompt.endswith("<|user|>\nThank you!\n<|assistant|>\n")
    # It is the conversation's own text up to where the final answer starts.
    whole = tokenizer.apply_chat_template(
        [{"role": "system", "content": ENGLISH.system}]
        + [{"role": str(t.role), "content": t.content} for t in ENGLISH.turns],
        tokenize=False,
    )
    assert whole == prompt + FINAL + tokenizer.eos_token


def test_a_conversation_is_scored_on_its_final_answer_and_constraints():
    content = ItemContent.model_validate(
        {**ENGLISH.model_dump(), "constraints": [{"id": "punctuation:no_comma"}]}
    )
    item = protocol.DatasetItem(item_id=1, revision=1, split="eval", content=content)
    right = score(item, FINAL.replace(",", ""))
    assert right["constraints_passed"] == 1.0 and right["f1"] > 0.5
    earlier = score(item, ENGLISH.turns[1].content)  # an earlier answer is not the reference
    assert earlier["exact_match"] == 0.0
    assert score(item, FINAL)["constraints_passed"] == 0.0  # the comma breaks the rule


def test_generation_stops_at_the_templates_end_of_turn(tokenizer):
    assert stop_ids(tokenizer) == [tokenizer.eos_token_id]
    tokenizer.add_tokens(
        [AddedToken("<|im_start|>", special=True), AddedToken("<|im_end|>", special=True)],
        special_tokens=True,
    )
    tokenizer.chat_template = CHATML
    assert stop_ids(tokenizer) == [
        tokenizer.eos_token_id,
        tokenizer.convert_tokens_to_ids("<|im_end|>"),
    ]


def test_evaluation_reports_a_conversation_with_its_final_answer(model, tokenizer):
    items = [
        protocol.DatasetItem(item_id=i, revision=1, split="eval", content=c)
        for i, c in enumerate([ENGLISH, CHINESE], start=1)
    ]
    spec = protocol.JobSpec(
        job_id=3,
        attempt=1,
        dataset_version_id=1,
        base_model="tiny",
        params=protocol.JobParams(generation={"max_new_tokens": 4}),
        lease_seconds=120,
        artifact_dir="/nonexistent",
    )
    client = Recording()
    predictions = evaluate(client, spec, model, tokenizer, items, {1: "base", 2: "base"})
    assert [p.kind for p in predictions] == ["conversation", "conversation"]
    assert [p.reference for p in predictions] == [FINAL, CHINESE.turns[-1].content]
    assert all("tuned_f1" in p.scores and "base_f1" in p.scores for p in predictions)


def test_by_kind_gives_conversations_a_row_of_their_own():
    scores = {"base_f1": 0.2, "tuned_f1": 0.6, "base_exact_match": 0.0, "tuned_exact_match": 1.0}
    rows = by_kind(
        [
            EvalPrediction(kind="task", scores=scores),
            EvalPrediction(kind="conversation", scores={**scores, "tuned_f1": 0.4}),
        ]
    )
    assert list(rows) == ["conversation", "task"]
    f1 = next(r for r in rows["conversation"] if r.metric == "f1")
    assert (f1.base, f1.tuned) == (0.2, 0.4)


CONVERSATION_DRAFTS = [
    ItemDraft(
        kind="conversation",
        system="Answer briefly.",
        turns=[
            {"role": "user", "content": f"Pick a number above {n}."},
            {"role": "assistant", "content": f"{n + 1}."},
            {"role": "user", "content": "And one below it?"},
            {"role": "assistant", "content": f"{n - 1}."},
        ],
    )
    for n in (10, 20, 30)
]


def test_results_page_shows_a_conversation_row(client, db_session):
    from app.datasets import freezing
    from app.datasets.versions import VersionFilter
    from tests.dataset_factories import approved_project

    project, admin, _ = approved_project(
        db_session, drafts=DRAFTS + CONVERSATION_DRAFTS, name="Conversations"
    )
    version = freezing.create_version(
        session=db_session,
        project=project,
        name="v1",
        f=VersionFilter(),
        actor=admin,
        eval_fraction=0.34,
    )
    job, _ = run_job(db_session, version, admin)
    login(client, admin.email)
    page = client.get(f"/jobs/{job.id}/results")
    assert page.status_code == 200
    assert 'id="metrics-conversation"' in page.text and 'id="metrics-task"' in page.text
    table = page.text.split('id="metrics-conversation"')[1].split("</table>")[0]
    assert 'data-metric="f1"' in table


def test_a_decoded_nul_character_is_made_storable(tokenizer):
    """The tiny tokenizer's byte-level alphabet holds byte 0: a model may generate it, and
    PostgreSQL refuses text with NUL, so generated text replaces it."""
    nul = tokenizer.convert_tokens_to_ids("Ā")  # byte 0 in the byte-level alphabet
    assert tokenizer.decode([nul]) == "\x00"
    assert (
        storable(tokenizer.decode([nul, *tokenizer("ok", add_special_tokens=False)["input_ids"]]))
        == "\ufffdok"
    )
