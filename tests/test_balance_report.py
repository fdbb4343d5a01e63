"""The balance report's figures on a project of known shares, and on a version frozen from it:
counts, shares and entropies worked out by hand, the warnings at and past their thresholds,
and a version that reads what it pinned, whatever the items became since."""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import select

from app.core.provenance import Origin, Provenance
from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.errors import InvalidInput
from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import Item
from app.reviews import service as reviews
from app.stats import balance, balance_queries
from app.stats.balance import Thresholds
from tests.factories import make_user
from tests.review_factories import make_project

# Twenty approved items. Each list gives one dimension's value per item; the shares are
# kind 50/30/20, domain 50/30/5/15 (none), language 80/20, annotator 60/30/10, provenance 70/30,
# difficulty 20/40/20/20 (none).
KINDS = ["task"] * 10 + ["constraint"] * 6 + ["example"] * 4
DOMAINS = ["math"] * 10 + ["code"] * 6 + ["<script>"] + [None] * 3
LANGUAGES = ["en", "en", "en", "en", "zh"] * 4
AUTHOR_NAMES = ("ann", "bob", "cat")
AUTHORS = [0] * 12 + [1] * 6 + [2] * 2
IMPORTED = {3, 6, 9, 13, 16, 19}
DIFFICULTIES = [2, 1, 2, None] * 4 + [3, 3, 3, 3]


def _draft(kind: str, i: int, **meta) -> ItemDraft:
    if kind == "constraint":
        return ItemDraft(
            kind=kind,
            instruction=f"Describe thing {i} without commas.",
            output=f"Thing {i} is plain",
            constraints=[{"id": "punctuation:no_comma"}],
            **meta,
        )
    if kind == "example":
        return ItemDraft(
            kind=kind,
            instruction=f"Give the antonym ({i}).",
            demos=[{"input": "hot", "output": "cold"}],
            input="big",
            output="small",
            **meta,
        )
    return ItemDraft(kind=kind, instruction=f"Add {i} and {i}.", output=str(2 * i), **meta)


def balanced_project(session, name: str = "Balanced"):
    """The twenty approved items above, plus a draft and a rejected item (counted only by,
    and left out of, the "not rejected" scope): (project, admin, authors, approved items)."""
    admin = make_user(session, role="admin")
    slug = re.sub(r"\W+", "-", name.lower())
    authors = [
        make_user(session, email=f"{who}-{slug}@example.org") for who in ("ann", "bob", "cat")
    ]
    reviewer = make_user(session, role="reviewer")
    project = make_project(session, admin, name=name, members=(*authors, reviewer))
    created = []
    for i, kind in enumerate(KINDS):
        meta = {"domain": DOMAINS[i], "language": LANGUAGES[i], "difficulty": DIFFICULTIES[i]}
        origin = Origin.imported if i in IMPORTED else Origin.written
        item = items.create_item(
            session=session,
            project=project,
            author=authors[AUTHORS[i]],
            draft=_draft(kind, i, **meta),
            submit=True,
            provenance=Provenance(origin=origin),
        )
        reviews.decide(
            session=session, item_id=item.id, reviewer=reviewer, decision="approve",
            version=item.version,
        )  # fmt: skip
        created.append(item)
    items.create_item(
        session=session, project=project, author=authors[2],
        draft=_draft("task", 90, domain="math", language="en"),
    )  # fmt: skip
    rejected = items.create_item(
        session=session, project=project, author=authors[2], submit=True,
        draft=_draft("example", 91, domain="poetry", language="en"),
    )  # fmt: skip
    reviews.decide(
        session=session, item_id=rejected.id, reviewer=reviewer, decision="reject",
        version=rejected.version, reason="duplicate",
    )  # fmt: skip
    return project, admin, authors, created


def entropy(*shares: float) -> float:
    return -sum(p * math.log(p) for p in shares) / math.log(len(shares))


def shares(dimension) -> dict:
    return {g.value: (g.count, g.share) for g in dimension.groups}


@pytest.fixture
def balanced(db_session):
    return balanced_project(db_session)


def project_report(session, project, scope="approved", **thresholds):
    return balance_queries.project_report(
        session=session,
        project_id=project.id,
        thresholds=Thresholds(**thresholds),
        scope=scope,
    )


class TestProjectFigures:
    def test_counts_shares_and_entropy_of_every_dimension(self, db_session, balanced):
        project, _admin, authors, _items = balanced
        report = project_report(db_session, project)
        assert report.total == 20
        kind = report.dimension("kind")
        assert shares(kind) == {"task": (10, 0.5), "constraint": (6, 0.3), "example": (4, 0.2)}
        assert kind.entropy == pytest.approx(entropy(0.5, 0.3, 0.2))
        assert kind.entropy == pytest.approx(0.9372305632)  # 1.0297 / ln 3
        domain = report.dimension("domain")
        assert [g.value for g in domain.groups] == ["math", "code", "<script>", None]
        assert shares(domain) == {
            "math": (10, 0.5), "code": (6, 0.3), "<script>": (1, 0.05), None: (3, 0.15),
        }  # fmt: skip
        assert domain.entropy == pytest.approx(entropy(0.5, 0.3, 0.05, 0.15))
        language = report.dimension("language")
        assert shares(language) == {"en": (16, 0.8), "zh": (4, 0.2)}
        assert language.entropy == pytest.approx(0.7219280949)  # H(0.8, 0.2) in bits
        annotator = report.dimension("annotator")
        ann, bob, cat = authors
        assert shares(annotator) == {ann.id: (12, 0.6), bob.id: (6, 0.3), cat.id: (2, 0.1)}
        assert [(g.name, g.email) for g in annotator.groups][0] == (ann.display_name, ann.email)
        assert annotator.entropy == pytest.approx(entropy(0.6, 0.3, 0.1))
        provenance = report.dimension("provenance")
        assert shares(provenance) == {"written": (14, 0.7), "imported": (6, 0.3)}
        assert provenance.entropy == pytest.approx(entropy(0.7, 0.3))
        difficulty = report.dimension("difficulty")
        # A scale reads in its order, the items without a difficulty last.
        assert [g.value for g in difficulty.groups] == [1, 2, 3, None]
        assert shares(difficulty) == {1: (4, 0.2), 2: (8, 0.4), 3: (4, 0.2), None: (4, 0.2)}
        assert difficulty.entropy == pytest.approx(entropy(0.2, 0.4, 0.2, 0.2))
        assert all(g.by_split is None for d in report.dimensions for g in d.groups)

    def test_the_not_rejected_scope_counts_drafts_too(self, db_session, balanced):
        project, *_ = balanced
        report = project_report(db_session, project, scope="not_rejected")
        assert report.total == 21  # the draft in, the rejected example out
        assert shares(report.dimension("kind"))["task"] == (11, 11 / 21)
        assert "poetry" not in shares(report.dimension("domain"))


class TestWarnings:
    def test_defaults_flag_only_the_annotator_who_wrote_most(self, db_session, balanced):
        project, _admin, (ann, *_), _items = balanced
        report = project_report(db_session, project)
        assert report.thresholds == Thresholds(0.05, 0.5)
        (warning,) = report.warnings
        assert (warning.rule, warning.dimension, warning.group.value) == (
            "dominant", "annotator", ann.id,
        )  # fmt: skip
        assert warning.threshold == 0.5
        # "<script>" holds exactly 5%: at the minimum is not under it.
        assert "<script>" in shares(report.dimension("domain"))

    def test_groups_under_the_minimum_and_over_the_dominance_share(self, db_session, balanced):
        project, _admin, (ann, bob, _cat), _items = balanced
        report = project_report(db_session, project, min_share=0.25, max_share=0.25)
        found = {(w.rule, w.dimension, w.group.value) for w in report.warnings}
        assert found == {
            ("thin", "kind", "example"),  # 20% < 25%
            ("thin", "domain", "<script>"),
            ("thin", "language", "zh"),
            ("thin", "difficulty", 1),
            ("thin", "difficulty", 3),  # the 20% without a difficulty is no group to ask for
            ("dominant", "annotator", ann.id),
            ("dominant", "annotator", bob.id),  # 30% > 25%
            ("dominant", "provenance", "imported"),  # written items never "dominate"
        }

    def test_exactly_at_a_threshold_is_no_warning(self, db_session, balanced):
        project, _admin, (ann, *_), _items = balanced
        report = project_report(db_session, project, min_share=0.2, max_share=0.3)
        found = {(w.rule, w.dimension, w.group.value) for w in report.warnings}
        # example, zh, difficulty 1 and 3 hold 20%; bob and the imported items 30%.
        assert found == {("thin", "domain", "<script>"), ("dominant", "annotator", ann.id)}

    def test_thresholds_compare_exactly_not_in_floating_point(self):
        # 3 of 30 is 10%; 0.1 * 30 is 3.0000000000000004 in floating point.
        counts = {"kind": {"task": {None: 27}, "example": {None: 3}}}
        report = balance.build(counts, Thresholds(min_share=0.1))
        assert report.warnings == []
        assert balance.build(counts, Thresholds(min_share=0.1001)).warnings[0].group.value == (
            "example"
        )


class TestEntropy:
    def test_even_groups_read_one_and_a_single_group_zero(self):
        assert balance.normalised_entropy([5, 5, 5, 5]) == pytest.approx(1.0)
        assert balance.normalised_entropy([7]) == 0.0
        assert balance.normalised_entropy([7, 0]) == 0.0  # empty groups are not present
        assert balance.normalised_entropy([]) is None

    def test_one_group_only_is_said_and_no_items_report_nothing(self):
        report = balance.build({"kind": {"task": {None: 4}}}, Thresholds())
        kind = report.dimension("kind")
        assert kind.one_group and kind.entropy == 0.0
        empty = balance.build({}, Thresholds())
        assert empty.total == 0 and empty.warnings == []
        assert all(d.groups == [] and d.entropy is None for d in empty.dimensions)


class TestThresholds:
    @pytest.mark.parametrize(
        ("low", "high", "expected"),
        [("", "", (0.05, 0.5)), (None, None, (0.05, 0.5)), ("0", "1", (0.0, 1.0)),
         ("0.5", " 0.25 ", (0.5, 0.25)), (0.1, 0.9, (0.1, 0.9))],
    )  # fmt: skip
    def test_blank_is_the_default_and_the_bounds_are_allowed(self, low, high, expected):
        thresholds = Thresholds.of(low, high)
        assert (thresholds.min_share, thresholds.max_share) == expected

    @pytest.mark.parametrize(
        ("low", "high", "fields"),
        [("0.51", "", {"min_share"}), ("-0.01", "", {"min_share"}), ("5%", "", {"min_share"}),
         ("nan", "", {"min_share"}), ("", "0", {"max_share"}), ("", "1.5", {"max_share"}),
         ("", "inf", {"max_share"}), ("abc", "2", {"min_share", "max_share"})],
    )  # fmt: skip
    def test_out_of_range_names_each_field(self, low, high, fields):
        with pytest.raises(InvalidInput) as raised:
            Thresholds.of(low, high)
        assert set(raised.value.errors) == fields
        assert "from 0 to 0.5" in raised.value.text


class TestVersion:
    def test_a_version_reads_its_pinned_revisions_whatever_changed_since(
        self, db_session, balanced
    ):
        project, admin, _authors, created = balanced
        version = freezing.create_version(
            session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin,
            eval_fraction=0.25,
        )  # fmt: skip
        before = balance_queries.version_report(
            session=db_session, version=version, thresholds=Thresholds()
        )
        assert before.total == 20
        assert before.by_split == {"train": version.train_count, "eval": version.eval_count}
        assert version.eval_count > 0
        for dimension in before.dimensions:  # the same shares as the project's
            project_dimension = project_report(db_session, project).dimension(dimension.name)
            assert shares(dimension) == shares(project_dimension)
            for name in ("train", "eval"):
                in_split = sum(g.by_split[name] for g in dimension.groups)
                assert in_split == before.by_split[name]
        # An approved math item in English becomes a Chinese coding item, difficulty 5.
        first = created[0]
        draft = items.draft_of(first).model_copy(
            update={"domain": "code", "language": "zh", "difficulty": 5}
        )
        items.update_item(
            session=db_session, item_id=first.id, draft=draft, expected_version=first.version,
            editor=admin,
        )  # fmt: skip
        edited = db_session.scalar(select(Item).where(Item.id == first.id))
        assert (edited.domain, edited.language, edited.status) == ("code", "zh", "submitted")
        now = project_report(db_session, project, scope="not_rejected")
        assert shares(now.dimension("domain"))["code"][0] == 7
        assert 5 in shares(now.dimension("difficulty"))
        after = balance_queries.version_report(
            session=db_session, version=version, thresholds=Thresholds()
        )
        assert after == before
        assert shares(after.dimension("domain"))["math"] == (10, 0.5)
        assert shares(after.dimension("language")) == {"en": (16, 0.8), "zh": (4, 0.2)}


def test_every_project_query_searches_an_index_of_the_items():
    """One grouped query per dimension that finds the project's items through an index, in
    SQLite's plan on the project's schema (PostgreSQL picks by its statistics, which an empty
    test database lacks, so its plan says nothing here)."""
    from sqlalchemy import create_engine
    from sqlalchemy.dialects import sqlite

    from app.models import Base

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    literal = {"literal_binds": True}
    with engine.connect() as connection:
        for scope in balance_queries.SCOPES:
            for dimension in balance.DIMENSIONS:
                query = balance_queries.project_query(1, scope, dimension)
                sql = query.compile(dialect=sqlite.dialect(), compile_kwargs=literal)
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
                plan = [row[-1] for row in rows]
                on_items = [step for step in plan if " items " in f"{step} "]
                assert len(on_items) == 1, plan
                assert on_items[0].startswith("SEARCH items USING") and "INDEX" in on_items[0]
