"""The demo: its content (no database), the loader (both backends) and the default tokenizer."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
from sqlalchemy import func, select
from tokenizers import Tokenizer

from app.core.constraints import check
from app.core.kinds import ItemContent
from app.core.langid import detect_language
from app.core.neardup import exact_jaccard, item_text, shingles, similarity
from app.demo import tokenizer as demo_tokenizer
from app.demo.loader import (
    DEMO_PASSWORD,
    PROBLEM_TYPES,
    item_draft,
    load_content,
    load_demo,
)
from app.items.service import validate_content
from app.models import (
    Assignment,
    DatasetVersion,
    GuidelineVersion,
    Item,
    Project,
    ProjectMember,
    Review,
    User,
)
from app.security import verify_password
from app.tokenizer import DEFAULT_TOKENIZER
from tests.factories import make_user

CONTENT = load_content()
ITEMS = CONTENT.items


CONVERSATIONS = [i for i in ITEMS if i["kind"] == "conversation"]


def problem(kind: str) -> list[dict]:
    return [i for i in ITEMS if (i.get("demo_problem") or {}).get("type") == kind]


def content_of(item: dict) -> ItemContent:
    """The item's content as stored: a conversation's first and last turns filled in as its
    instruction and output."""
    return validate_content(item_draft(item), for_submit=False)


def text_of(item: dict) -> str:
    content = content_of(item)
    return item_text(
        content.instruction,
        content.input,
        content.output,
        content.demos,
        system=content.system,
        turns=content.turns,
    )


def turn(item: dict, number: int) -> dict:
    """Turn ``number`` of a conversation, counted from 1 as reviewers see them."""
    return item["turns"][number - 1]


# --- content ---------------------------------------------------------------------------------


class TestContent:
    def test_enough_items_balanced_by_kind_and_language(self):
        n = len(ITEMS)
        assert n >= 56
        kinds = Counter(i["kind"] for i in ITEMS)
        languages = Counter(i["language"] for i in ITEMS)
        assert set(kinds) == {"task", "constraint", "example", "conversation", "preference"}
        # The single-turn kinds in about equal shares, conversations and pairs fewer but several.
        assert all(kinds[kind] >= 0.22 * n for kind in ("task", "constraint", "example")), kinds
        assert kinds["conversation"] >= 6
        assert kinds["preference"] >= 6
        assert set(languages) == {"en", "zh"}
        assert all(count >= 0.45 * n for count in languages.values()), languages
        # Each kind in both languages: not all tasks English and all examples Chinese.
        for kind in kinds:
            per_language = Counter(i["language"] for i in ITEMS if i["kind"] == kind)
            assert min(per_language.values()) >= 0.4 * kinds[kind], (kind, per_language)

    def test_conversations_in_both_languages_for_every_role(self):
        for language in ("en", "zh"):
            own = [i for i in CONVERSATIONS if i["language"] == language]
            assert len(own) >= 3, language
            # Several exchanges each (up to four), a system prompt in one at least.
            assert all(4 <= len(i["turns"]) <= 8 for i in own), language
            assert any(i.get("system", "").strip() for i in own), language
            statuses = Counter(i["status"] for i in own)
            # Approved ones to freeze and train on, submitted ones in the review queue.
            assert statuses["approved"] >= 2 and statuses["submitted"] >= 1, (language, statuses)
            assert any("demo_problem" in i for i in own), language
        # Written as turns only: the first and last turns stand as instruction and output.
        for item in CONVERSATIONS:
            assert "instruction" not in item and "output" not in item, item["key"]
            content = content_of(item)
            assert content.instruction == turn(item, 1)["content"]
            assert content.output == item["turns"][-1]["content"]
        # Some 8-turn tutoring, and a draft whose last answer is still to be written.
        assert max(len(i["turns"]) for i in CONVERSATIONS) == 8
        assert any(i["status"] == "draft" and not i["turns"][-1]["content"] for i in CONVERSATIONS)

    def test_statuses_leave_work_for_every_role(self):
        statuses = Counter(i["status"] for i in ITEMS)
        assert set(statuses) == {"draft", "submitted", "approved"}
        # Enough approved items to fine-tune on at once, in both languages ...
        assert statuses["approved"] >= 30
        assert {i["language"] for i in ITEMS if i["status"] == "approved"} == {"en", "zh"}
        # ... while every flawed item and a few clean ones wait for a reviewer.
        assert all(i["status"] == "submitted" for i in ITEMS if "demo_problem" in i)
        assert statuses["submitted"] - len([i for i in ITEMS if "demo_problem" in i]) >= 4
        assert statuses["draft"] >= 4

    def test_metadata_fits_the_label_schema(self):
        domains = set(CONTENT.project["domains"])
        tags = set(CONTENT.project["tags"])
        assert {i["domain"] for i in ITEMS} == domains  # every domain used, none outside
        assert {i["difficulty"] for i in ITEMS} == {1, 2, 3, 4, 5}
        for language in ("en", "zh"):
            assert len({i["difficulty"] for i in ITEMS if i["language"] == language}) >= 4
        assert {t for i in ITEMS for t in i["tags"]} <= tags

    def test_each_item_is_valid_content(self):
        for item in ITEMS:
            content = validate_content(item_draft(item), for_submit=item["status"] == "submitted")
            assert content.language == item["language"]

    def test_language_field_matches_the_text(self):
        for item in ITEMS:
            assert detect_language(content_of(item).instruction) == item["language"], item["key"]

    def test_outputs_are_mostly_short(self):
        # The demo fine-tune runs on a CPU.
        from app.core.cjk import count_words

        long = [i["key"] for i in ITEMS if count_words(content_of(i).output) > 80]
        assert len(long) <= len(ITEMS) // 10, long
        # Every turn of a conversation is short too: the model learns each assistant turn.
        turns = [t["content"] for i in CONVERSATIONS for t in i["turns"]]
        assert max(count_words(text) for text in turns) <= 80

    def test_constraint_outputs_pass_except_the_deliberate_failure(self):
        broken = {i["key"] for i in problem("breaks_constraint")}
        constraint_items = [i for i in ITEMS if i["kind"] == "constraint"]
        assert all(i["constraints"] for i in constraint_items)
        used = {c["id"] for i in constraint_items for c in i["constraints"]}
        assert len(used) >= 10
        # A conversation's constraints are checked on its last assistant turn.
        constrained_conversations = [i for i in CONVERSATIONS if i.get("constraints")]
        assert constrained_conversations
        for item in constraint_items + constrained_conversations:
            output = content_of(item).output
            verdicts = [check(c["id"], output, c["params"]) for c in item["constraints"]]
            if item["key"] in broken:
                assert not all(v.passed for v in verdicts), item["key"]
            else:
                failed = [v.explanation for v in verdicts if not v.passed]
                assert not failed, (item["key"], failed)

    def test_each_deliberate_problem_appears_once_and_awaits_review(self):
        flawed = [i for i in ITEMS if "demo_problem" in i]
        assert Counter(i["demo_problem"]["type"] for i in flawed) == Counter(PROBLEM_TYPES)
        for item in flawed:
            assert item["status"] == "submitted"
            assert item["demo_problem"]["description"].strip()
        assert problem("breaks_constraint")[0]["kind"] == "constraint"
        assert len(problem("unclear_instruction")[0]["instruction"].split()) <= 8

    def test_the_conversation_flaws_are_in_the_turns_they_name(self):
        # The contradiction: the firmer yolk is given less time than the runny one.
        [eggs] = problem("contradicts_itself")
        assert eggs["kind"] == "conversation" and eggs["language"] == "en"
        flawed = eggs["demo_problem"]["turn"]
        assert turn(eggs, flawed)["role"] == "assistant"
        assert "6 minutes" in turn(eggs, 2)["content"]
        assert "4 minutes" in turn(eggs, flawed)["content"]
        # The ignored context: peanuts offered after the user said the child is allergic.
        [snacks] = problem("ignores_context")
        assert snacks["kind"] == "conversation" and snacks["language"] == "zh"
        flawed = snacks["demo_problem"]["turn"]
        assert turn(snacks, flawed)["role"] == "assistant"
        assert "花生过敏" in turn(snacks, 1)["content"]
        assert "花生" in turn(snacks, flawed)["content"]
        # Every earlier answer avoids peanuts: the flaw is in the named turn only.
        assert all(
            "花生" not in line
            for t in snacks["turns"][1 : flawed - 1]
            if t["role"] == "assistant"
            for line in t["content"].splitlines()
            if line.startswith("- ")
        )

    def test_the_near_duplicate_pair_stands_out(self):
        [dup] = problem("near_duplicate")
        original = CONTENT.item(dup["demo_problem"]["duplicate_of"])
        assert original["instruction"] != dup["instruction"]
        assert similarity(text_of(original), text_of(dup)) >= 0.7
        # No other pair of items comes close.
        signatures = {i["key"]: shingles(text_of(i)) for i in ITEMS}
        others = [
            exact_jaccard(signatures[a], signatures[b])
            for a, b in combinations(signatures, 2)
            if {a, b} != {dup["key"], original["key"]}
        ]
        assert max(others) < 0.5

    def test_guidelines_and_users(self):
        guidelines = CONTENT.guidelines
        assert guidelines.startswith("# ")
        assert "## 中文说明" in guidelines
        assert "What reviewers reject" in guidelines
        users = CONTENT.users
        assert {u["email"] for u in users} == {
            "annotator@demo.local",
            "annotator2@demo.local",
            "reviewer@demo.local",
            "reviewer2@demo.local",
        }
        assert Counter(u["role"] for u in users) == {"annotator": 2, "reviewer": 2}
        assert "zh" in {u["language"] for u in users}


# --- loader ----------------------------------------------------------------------------------


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


class TestLoader:
    def test_loads_everything_through_the_services(self, db_session, admin_user):
        users_before = count(db_session, User)
        summary = load_demo(session=db_session, admin=admin_user)

        assert summary.loaded
        assert summary.items == len(ITEMS)
        assert summary.items_by_kind == dict(Counter(i["kind"] for i in ITEMS))
        assert summary.items_by_language == dict(Counter(i["language"] for i in ITEMS))
        assert summary.items_by_status == dict(Counter(i["status"] for i in ITEMS))
        assert len(summary.users_created) == 4
        assert count(db_session, User) == users_before + 4

        project = db_session.get(Project, summary.project_id)
        assert project.name == CONTENT.project["name"]
        assert project.languages == ["en", "zh"]
        assert project.guidelines == CONTENT.guidelines
        assert project.created_by == admin_user.id
        assert count(db_session, GuidelineVersion) >= 1

        rows = db_session.scalars(select(Item).where(Item.project_id == project.id)).all()
        assert len(rows) == len(ITEMS)
        assert {row.origin for row in rows} == {"demo"}
        by_key = {row.provenance["key"]: row for row in rows}
        assert by_key.keys() == {i["key"] for i in ITEMS}
        for item in ITEMS:
            row = by_key[item["key"]]
            assert (row.kind, row.status, row.language) == (
                item["kind"],
                item["status"],
                item["language"],
            )
            assert summary.item_ids[item["key"]] == row.id
            # A conversation keeps its system prompt and turns as written.
            assert (row.system, row.turns) == (item.get("system", ""), item.get("turns", []))

        authors = Counter(db_session.get(User, row.author_id).email for row in rows)
        assert set(authors) == {"annotator@demo.local", "annotator2@demo.local"}
        assert min(authors.values()) >= len(ITEMS) // 3

        zh_user = db_session.scalar(select(User).where(User.email == "annotator2@demo.local"))
        assert zh_user.language == "zh"
        assert verify_password(DEMO_PASSWORD, zh_user.password_hash)
        version = db_session.get(DatasetVersion, summary.version_id)
        approved = Counter(i["status"] for i in ITEMS)["approved"]
        assert version.train_count + version.eval_count == approved and version.eval_count >= 3
        # The first version holds the approved conversations, and its statistics count them.
        approved_conversations = [i for i in CONVERSATIONS if i["status"] == "approved"]
        assert version.stats["conversations"] == len(approved_conversations)
        assert sum(version.stats["turns"].values()) == len(approved_conversations)
        assert sum(version.stats["turn_tokens"]["assistant"].values()) == sum(
            len(i["turns"]) // 2 for i in approved_conversations
        )
        reviews = db_session.scalars(
            select(Review).where(Review.decision == "approve", Review.project_id == project.id)
        ).all()
        assert len(reviews) == approved
        assert {db_session.get(User, r.reviewer_id).role for r in reviews} == {"reviewer"}
        printed = "\n".join(summary.lines())
        assert "reviewer@demo.local" in printed and DEMO_PASSWORD in printed

    def test_two_projects_with_different_members(self, db_session, admin_user):
        summary = load_demo(session=db_session, admin=admin_user)
        main = db_session.get(Project, summary.project_id)
        second = db_session.get(Project, summary.second_project_id)

        def members_of(project):
            rows = db_session.execute(
                select(User.email, ProjectMember.role)
                .join(ProjectMember, ProjectMember.user_id == User.id)
                .where(ProjectMember.project_id == project.id)
            )
            return dict(rows.all())

        assert members_of(main) == CONTENT.project["members"]
        assert members_of(second) == CONTENT.second_project["members"]
        assert members_of(main) != members_of(second)
        # Someone in one project only, and the second project's items are its members' work.
        assert "annotator@demo.local" not in members_of(second)
        rows = db_session.scalars(select(Item).where(Item.project_id == second.id)).all()
        assert len(rows) == len(CONTENT.second_items)
        authors = {db_session.get(User, row.author_id).email for row in rows}
        assert authors <= set(members_of(second))
        printed = "\n".join(summary.lines())
        assert second.name in printed

    def test_work_is_handed_out_in_both_projects(self, db_session, admin_user):
        summary = load_demo(session=db_session, admin=admin_user)
        rows = db_session.execute(
            select(Assignment.project_id, Assignment.task, User.email).join(
                User, User.id == Assignment.user_id
            )
        ).all()
        listed = sum(
            len(work["items"]) * len(work["to"])
            for spec in (CONTENT.project, CONTENT.second_project)
            for work in spec["assignments"]
        )
        assert len(rows) == summary.assignments == listed
        assert {project for project, _, _ in rows} == {
            summary.project_id,
            summary.second_project_id,
        }
        assert ("write", "annotator2@demo.local") in {(task, email) for _, task, email in rows}
        assert all(
            db_session.get(Assignment, a).due_date is not None
            for a in db_session.scalars(select(Assignment.id))
        )

    def test_a_second_load_adds_nothing(self, db_session, admin_user):
        first = load_demo(session=db_session, admin=admin_user)
        counts = (count(db_session, User), count(db_session, Project), count(db_session, Item))
        second = load_demo(session=db_session, admin=admin_user)
        assert not second.loaded
        assert second.project_id == first.project_id
        assert second.items == 0
        assert "already exists" in second.lines()[0]
        assert (count(db_session, User), count(db_session, Project), count(db_session, Item)) == (
            counts
        )

    def test_existing_accounts_are_reused(self, db_session):
        existing = make_user(db_session, role="reviewer", email="Reviewer@demo.local")
        summary = load_demo(session=db_session, admin=None)
        assert summary.loaded
        assert summary.users_existing == ["reviewer@demo.local"]
        assert len(summary.users_created) == 3
        cred = next(c for c in summary.credentials if c.email == "reviewer@demo.local")
        assert not cred.created
        assert "password unchanged" in "\n".join(summary.lines())
        # Without an admin, the project is created by an existing reviewer.
        assert db_session.get(Project, summary.project_id).created_by == existing.id


# --- tokenizer -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Tokenizer:
    return Tokenizer.from_file(str(DEFAULT_TOKENIZER))


class TestTokenizer:
    @pytest.mark.parametrize(
        "text",
        [
            "Write a short email to a customer explaining the delay.",
            "给房东写一条简短的消息，说明厨房水龙头漏水。",
            "我喜欢 Python 和机器学习：鬱、龘 and naïve café 🙂",
        ],
    )
    def test_encodes_english_and_chinese_without_unknowns(self, shipped, text):
        unk = shipped.token_to_id("<unk>")
        encoding = shipped.encode(text, add_special_tokens=False)
        assert unk not in encoding.ids
        assert shipped.decode(encoding.ids) == text

    def test_learned_chinese_and_english_merges(self, shipped):
        # Frequent demo words are single tokens, so token counts are not byte counts.
        assert len(shipped.encode("的", add_special_tokens=False).ids) == 1
        assert len(shipped.encode(" the", add_special_tokens=False).ids) == 1
        chinese = "每一杯都由咖啡师慢慢冲煮"
        assert len(shipped.encode(chinese, add_special_tokens=False).ids) < len(chinese)

    def test_special_tokens(self, shipped):
        ids = [shipped.token_to_id(t) for t in demo_tokenizer.SPECIAL_TOKENS]
        assert ids == list(range(len(demo_tokenizer.SPECIAL_TOKENS)))
        text = "<|user|>\nHi\n<|assistant|>\nHello</s>"
        tokens = shipped.encode(text).tokens
        assert tokens[0] == "<s>"
        assert {"<|user|>", "<|assistant|>", "</s>"} <= set(tokens)
        assert 1000 < shipped.get_vocab_size() <= demo_tokenizer.VOCAB_SIZE

    def test_rebuilding_from_the_content_gives_the_same_file(self):
        assert demo_tokenizer.build_default() == DEFAULT_TOKENIZER.read_text(encoding="utf-8")

    def test_main_writes_and_checks(self, tmp_path, capsys):
        out = tmp_path / "tokenizer.json"
        assert demo_tokenizer.main(["--output", str(out), "--check"]) == 1
        assert demo_tokenizer.main(["--output", str(out)]) == 0
        assert out.read_bytes() == DEFAULT_TOKENIZER.read_bytes()
        assert demo_tokenizer.main(["--output", str(out), "--check"]) == 0
        assert "up to date" in capsys.readouterr().out
