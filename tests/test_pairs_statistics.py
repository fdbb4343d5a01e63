"""Statistics of preference pairs, on both databases: reported apart from the supervised items
(counts by split, words and tokens of the chosen and the rejected responses, the share of pairs
whose chosen response is longer, the length difference), figures worked out by hand on a small
version; the supervised figures leave pairs out; the version page, its API and the dataset card
show them."""

from __future__ import annotations

import html

import pytest

from app.datasets import export, freezing
from app.datasets.versions import VersionFilter
from app.items.schemas import ItemDraft
from app.tokenizer import count_tokens
from tests.api_helpers import bearer
from tests.dataset_factories import approved_project
from tests.helpers import login

LONG = " ".join(f"word{i}" for i in range(25))  # 25 words
# (chosen, rejected): words 3 and 1, 1 and 6, 7 and 2 (one word a Chinese character), 25 and 1,
# 3 and 3. The chosen one is longer in three pairs of five.
RESPONSES = [
    ("Thirteen is prime.", "Fifteen."),
    ("Blue.", "I think the answer is red."),
    ("光合作用是过程", "植物"),
    (LONG, "no"),
    ("Same length here", "Also three words"),
]
PAIRS = [
    ItemDraft(kind="preference", instruction=f"Question {n}.", output=chosen, rejected=rejected,
              language="zh" if n == 2 else "en")
    for n, (chosen, rejected) in enumerate(RESPONSES)
]  # fmt: skip
# Ten tasks and one conversation: the conversation is under a tenth of the supervised items
# (1 in 11), and would be further under with the pairs counted (1 in 16).
SFT = [
    ItemDraft(kind="task", instruction=f"Say the number {i}.", output=str(i), language="en")
    for i in range(10)
] + [
    ItemDraft(
        kind="conversation",
        turns=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there."}],
        language="en",
    )
]


@pytest.fixture
def version(db_session):
    project, admin, _created = approved_project(db_session, drafts=[*PAIRS, *SFT], name="Stats")
    made = freezing.create_version(
        session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin,
        eval_fraction=0.0,
    )  # fmt: skip
    return made, project, admin


def _centre(values: list[int]) -> dict:
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"mean": round(sum(values) / len(values), 1), "median": median}


def test_pair_figures_worked_out_by_hand(version):
    made, _project, _admin = version
    pairs = made.stats["pairs"]
    assert pairs["total"] == 5 and pairs["splits"] == [["train", 5]]
    assert pairs["words"] == {
        "chosen": {"mean": 7.8, "median": 3},  # (3 + 1 + 7 + 25 + 3) / 5
        "rejected": {"mean": 2.6, "median": 2},  # (1 + 6 + 2 + 1 + 3) / 5
    }
    assert (pairs["chosen_longer"], pairs["rejected_longer"], pairs["same_length"]) == (3, 1, 1)
    assert pairs["chosen_longer_share"] == 0.6
    # Differences +2, −5, +5, +24, 0: four within five words, one from 21 to 50.
    assert pairs["difference"] == [
        ["≤ −51", 0], ["−50 … −21", 0], ["−20 … −6", 0], ["−5 … 5", 4], ["6 … 20", 0],
        ["21 … 50", 1], ["≥ 51", 0],
    ]  # fmt: skip
    assert pairs["length_hist"]["chosen"]["0–9"] == 4
    assert pairs["length_hist"]["chosen"]["25–49"] == 1
    assert pairs["length_hist"]["rejected"]["0–9"] == 5
    tokens = {side: [count_tokens(r[at]) for r in RESPONSES]
              for at, side in enumerate(("chosen", "rejected"))}  # fmt: skip
    assert pairs["tokens"] == {side: _centre(values) for side, values in tokens.items()}


def test_the_supervised_figures_leave_pairs_out(version):
    made, _project, _admin = version
    stats = made.stats
    assert stats["total"] == 16 and stats["sft_total"] == 11
    assert stats["counts"]["kind"] == {"task": 10, "preference": 5, "conversation": 1}
    assert sum(stats["words"].values()) == 11
    assert sum(stats["tokens"].values()) == 11
    assert stats["warnings"] == [{"field": "kind", "value": "conversation", "share": 0.091}]
    words = {first for first, _n in stats["leading_words"]}
    assert "question" not in words and "say" in words


def test_the_page_the_api_and_the_card_show_them(client, db_session, version, tmp_path):
    made, _project, admin = version
    db_session.commit()
    login(client, admin.email)
    page = client.get(f"/datasets/{made.id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'id="chosen-longer-share">60%' in text
    assert "Chosen is longer in 60% of pairs: a model can learn length instead of quality." in text
    assert "5 preference pairs" in text and "11 supervised items" in text
    assert 'id="pair-length-chart"' in text and "−5 … 5" in text
    # Both kinds of export are offered: the version holds pairs and supervised items.
    assert "format=trl_chat_jsonl" in text and "format=openai_jsonl" in text
    stats = client.get(f"/api/v1/datasets/{made.id}", headers=bearer(db_session, admin)).json()
    assert stats["stats"]["pairs"]["chosen_longer_share"] == 0.6
    assert stats["stats"]["sft_total"] == 11
    card = export.write_folder(db_session, made.id, "trl_chat_jsonl", tmp_path / "out")[0]
    card_text = card.read_text(encoding="utf-8")
    assert "- Mean words: chosen 7.8, rejected 2.6" in card_text
    assert "- Chosen longer than rejected: 60% of pairs" in card_text


def test_a_version_without_pairs_offers_no_pair_export(client, db_session):
    project, admin, _created = approved_project(db_session, drafts=SFT, name="No pairs")
    made = freezing.create_version(session=db_session, project=project, name="v1",
                                   f=VersionFilter(), actor=admin)  # fmt: skip
    db_session.commit()
    assert made.stats["pairs"] == {"total": 0}
    login(client, admin.email)
    page = client.get(f"/datasets/{made.id}")
    assert "format=openai_jsonl" in page.text and "format=trl_chat_jsonl" not in page.text
    assert 'id="pair-statistics"' not in page.text


def test_the_project_statistics_page_shows_pairs_too(client, db_session, version):
    _made, project, admin = version
    db_session.commit()
    login(client, admin.email)
    page = client.get(f"/projects/{project.id}/stats")
    assert page.status_code == 200
    assert 'id="chosen-longer-share">60%' in page.text
