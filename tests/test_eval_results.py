"""A round's results and the project's leaderboard against values worked out by hand.

The factory's job has 22 eval prompts: 10 in English (domain "travel", positions 1, 3, 5, 9,
11, …, 21) and 12 in Chinese (domain "food"), all of kind "task".
"""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from app.core.judging_stats import Tally
from app.evaluation import rounds
from app.evaluation.leaderboard import leaderboard
from app.evaluation.results import job_verdicts, round_results
from app.models import DatasetVersion, EvalRoundPrompt
from tests.eval_factories import finished_job, judge_all, make_round, reviewers
from tests.job_factories import run_job

Z = 1.959963984540054


def wilson(successes: float, n: int) -> tuple[float, float]:
    """The Wilson score interval, written out: (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = successes / n
    centre = p + Z**2 / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return (centre - half) / (1 + Z**2 / n), (centre + half) / (1 + Z**2 / n)


@pytest.fixture
def done(db_session):
    return finished_job(db_session)


def _languages(db_session, found) -> dict[int, str]:
    return dict(
        db_session.execute(
            select(EvalRoundPrompt.position, EvalRoundPrompt.language).where(
                EvalRoundPrompt.round_id == found.id
            )
        ).all()
    )


class TestRoundResults:
    def test_wins_ties_and_losses_by_group(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job)
        language = _languages(db_session, found)
        zh = sorted(p for p, lang in language.items() if lang == "zh")
        assert (len(language), len(zh)) == (22, 12)

        def verdict(_, position):  # English: A wins; Chinese: two ties, then B wins
            if language[position] == "en":
                return "a"
            return "tie" if position in zh[:2] else "b"

        (judge,) = reviewers(db_session, project, 1)
        judge_all(db_session, found, [judge], verdict)
        res = round_results(db_session, found=found)

        assert res.overall == Tally(wins=10, losses=10, ties=2, both_bad=0)
        assert res.overall.win_rate == 0.5  # (10 + 2 / 2) / 22
        assert res.overall.interval == pytest.approx(wilson(11, 22))
        assert res.overall.interval == pytest.approx((0.3072, 0.6928), abs=1e-4)
        assert res.overall.p_value == 1.0  # 10 wins, 10 losses

        en, food = res.groups["language"]["en"], res.groups["language"]["zh"]
        assert (en.wins, en.ties, en.losses, en.n) == (10, 0, 0, 10)
        assert en.win_rate == 1.0
        assert en.interval == pytest.approx(wilson(10, 10))
        assert en.interval == pytest.approx((0.7225, 1.0), abs=1e-4)
        assert en.p_value == pytest.approx(2 / 2**10)  # all ten one way: 2 · (1/2)^10
        assert (food.wins, food.ties, food.losses, food.n) == (0, 2, 10, 12)
        assert food.win_rate == pytest.approx(1 / 12)
        assert food.interval == pytest.approx(wilson(1, 12))
        assert food.interval == pytest.approx((0.0149, 0.3539), abs=1e-4)
        assert food.p_value == pytest.approx(2 / 2**10)  # ties are left out
        assert not en.small and not food.small

        assert res.groups["domain"] == {"food": food, "travel": en}
        assert res.groups["kind"] == {"task": res.overall}
        # One judgment per prompt: nothing to pair, so no agreement figure, and a reason.
        assert res.alpha.alpha is None and res.alpha.reason
        assert res.disagreements == [] and res.judges == 1

    def test_a_small_group_is_flagged_and_a_missing_domain_grouped(self, db_session, done):
        project, admin, job = done
        found = make_round(db_session, project, admin, job, language="en", limit=4, seed=3)
        first = db_session.scalar(
            select(EvalRoundPrompt).where(
                EvalRoundPrompt.round_id == found.id, EvalRoundPrompt.position == 1
            )
        )
        first.domain = None  # a prompt whose item had no domain
        db_session.flush()
        judge_all(db_session, found, reviewers(db_session, project, 1), lambda *_: "both_bad")
        res = round_results(db_session, found=found)
        assert res.overall == Tally(wins=0, losses=0, ties=4, both_bad=4)
        assert res.overall.small and res.overall.win_rate == 0.5
        assert {g: t.n for g, t in res.groups["domain"].items()} == {"": 1, "travel": 3}


class TestAgreement:
    def _round(self, db_session, project, admin, job, verdicts: dict[int, str]):
        """Three prompts, two judges each; ``verdicts[judge index]`` is a string of one
        verdict letter per position (a, b, t for tie)."""
        found = make_round(db_session, project, admin, job, limit=3, seed=5, overlap=2)
        judges = reviewers(db_session, project, 2)
        index = {judge.id: i for i, judge in enumerate(judges)}
        names = {"a": "a", "b": "b", "t": "tie"}
        judge_all(
            db_session,
            found,
            judges,
            lambda judge, position: names[verdicts[index[judge.id]][position - 1]],
        )
        return round_results(db_session, found=found)

    def test_alpha_and_disagreements_by_hand(self, db_session, done):
        project, admin, job = done
        res = self._round(db_session, project, admin, job, {0: "abb", 1: "abb"})
        assert res.alpha.alpha == pytest.approx(1.0) and res.alpha.n_pairable == 6
        assert res.disagreements == [] and res.judges == 2
        # Units {a, a}, {a, b}, {b, b}: six pairable values, n_a = n_b = 3, and one unit
        # disagrees (o_ab = o_ba = 1). Nominal alpha = 1 − (n − 1) · Σ o_ck / Σ n_c n_k
        # over c ≠ k = 1 − 5 · 2 / (3 · 3 + 3 · 3) = 4/9.
        res = self._round(db_session, project, admin, job, {0: "aab", 1: "abb"})
        assert res.alpha.alpha == pytest.approx(4 / 9)
        # Prompt 1 split a/b (spread 0.25), prompt 2 a/tie (0.0625), prompt 3 agreed.
        res = self._round(db_session, project, admin, job, {0: "aaa", 1: "bta"})
        assert [d.prompt.position for d in res.disagreements] == [1, 2]
        assert [d.verdicts for d in res.disagreements] == [["a", "b"], ["a", "tie"]]
        assert [d.spread for d in res.disagreements] == pytest.approx([0.25, 0.0625])


class TestJobVerdicts:
    def test_closed_tuned_against_base_rounds_from_the_tuned_side(self, db_session, done):
        project, admin, job = done
        (judge,) = reviewers(db_session, project, 1)
        tuned_first = make_round(db_session, project, admin, job)
        judge_all(db_session, tuned_first, [judge], lambda *_: "a")
        base_first = make_round(
            db_session, project, admin, job, a=f"{job.id}:base", b=f"{job.id}:tuned"
        )
        language = _languages(db_session, base_first)
        judge_all(  # tuned is B: it wins the English prompts and loses the Chinese ones
            db_session,
            base_first,
            [judge],
            lambda _, position: "b" if language[position] == "en" else "a",
        )
        for found in (tuned_first, base_first):
            rounds.close_round(db_session, found=found, actor=admin)
        make_round(db_session, project, admin, job, name="still open")
        against_reference = make_round(db_session, project, admin, job, b="reference")
        rounds.close_round(db_session, found=against_reference, actor=admin)

        verdicts = job_verdicts(db_session, job=job)
        assert [v.round.id for v in verdicts] == [base_first.id, tuned_first.id]
        assert verdicts[0].tally == Tally(wins=10, losses=12)
        assert verdicts[1].tally == Tally(wins=22)


class TestLeaderboard:
    def _closed(self, db_session, project, admin, job, a, b, verdict):
        found = make_round(db_session, project, admin, job, a=a, b=b)
        judge_all(db_session, found, reviewers(db_session, project, 1), lambda *_: verdict)
        rounds.close_round(db_session, found=found, actor=admin)

    def test_a_chain_ranks_as_worked_out_and_a_second_job_is_apart(self, db_session, done):
        project, admin, job = done
        tuned, base = f"{job.id}:tuned", f"{job.id}:base"
        # Open rounds and rating rounds do not count.
        found = make_round(db_session, project, admin, job)
        judge_all(db_session, found, reviewers(db_session, project, 1), lambda *_: "a")
        rating = make_round(db_session, project, admin, job, mode="rating")
        rounds.close_round(db_session, found=rating, actor=admin)
        empty = leaderboard(db_session, project_id=project.id)
        assert empty.entries == [] and empty.rounds == 0

        self._closed(db_session, project, admin, job, tuned, base, "a")  # tuned beats base 22–0
        self._closed(db_session, project, admin, job, "reference", tuned, "a")  # ref beats tuned
        board = leaderboard(db_session, project_id=project.id)
        assert board.connected and board.components == 1
        assert (board.rounds, board.judgments) == (2, 44)
        assert [(e.rank, e.system.key) for e in board.entries] == [
            (1, "reference"),
            (2, tuned),
            (3, base),
        ]
        # With one virtual tie per pair, the reference's strength x solves 22.5 = 23·x/(x+1):
        # x = 45, tuned sits at 1, base at 1/45. On the rating scale: 1000 ± 400·log10(45).
        ratings = {e.system.key: e.rating for e in board.entries}
        assert ratings["reference"] == pytest.approx(1000 + 400 * math.log10(45), abs=1e-3)
        assert ratings[tuned] == pytest.approx(1000, abs=1e-3)
        assert ratings["reference"] == pytest.approx(1661.29, abs=1e-2)
        assert ratings[base] == pytest.approx(338.71, abs=1e-2)
        assert {e.system.key: e.judgments for e in board.entries} == {
            "reference": 22,
            tuned: 44,
            base: 22,
        }
        assert all(e.low <= e.rating <= e.high for e in board.entries)
        assert next(e for e in board.entries if e.system.key == tuned).job.id == job.id

        other, _ = run_job(
            db_session, db_session.get(DatasetVersion, job.dataset_version_id), admin
        )
        self._closed(
            db_session, project, admin, other, f"{other.id}:tuned", f"{other.id}:base", "a"
        )
        board = leaderboard(db_session, project_id=project.id)
        assert not board.connected and board.components == 2
        group = {e.system.key: e.component for e in board.entries}
        assert group[f"{other.id}:tuned"] == group[f"{other.id}:base"] == 1
        assert group["reference"] == group[tuned] == group[base] == 0
        # Alone in its group, two systems 22–0 with one virtual tie: x² = 45.
        apart = {e.system.key: e.rating for e in board.entries}[f"{other.id}:tuned"]
        assert apart == pytest.approx(1000 + 200 * math.log10(45), abs=1e-3)
