"""A job's metrics per language and per domain of its eval items, and the groups whose tuned
score fell while the overall score rose: the grouping, the page, the JSON API and `studio jobs
results`."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from app.core import protocol
from app.datasets import freezing, versions
from app.datasets.versions import VersionFilter
from app.items.schemas import ItemDraft
from app.jobs import groups, queue
from app.jobs import service as jobs
from app.jobs.results import Row
from app.models import Item, ItemRevision
from tests.api_helpers import member
from tests.dataset_factories import approved_project
from tests.factories import join, make_user
from tests.helpers import login
from tests.job_factories import worker_token
from tests.test_cli_datasets import as_json, seeded, studio

HX = {"HX-Request": "true"}
LEGAL = "Law & <Order>"  # a domain as users write it: shown escaped
DRAFTS = [
    ItemDraft(
        kind="task",
        instruction=f"Summarise clause {n} of the lease.",
        output=f"Clause {n} says the rent is due monthly.",
        language="en",
        domain=LEGAL,
    )
    for n in (1, 2)
] + [
    ItemDraft(
        kind="example",
        instruction="给出反义词。",
        demos=[{"input": "大", "output": "小"}],
        input=word,
        output=opposite,
        language="zh",
    )
    for word, opposite in (("早", "晚"), ("高", "矮"))
]
# Per language: English improves a lot on F1 and Chinese falls a little, so F1 rises overall
# (0.4 -> 0.7) while it falls for zh (0.6 -> 0.5). ROUGE-L rises everywhere. Exact match falls
# overall and rises for zh: the other direction, which is no warning.
SCORES = {
    "en": {"f1": (0.2, 0.9), "rouge_l": (0.3, 0.4), "exact_match": (1.0, 0.0)},
    "zh": {"f1": (0.6, 0.5), "rouge_l": (0.5, 0.6), "exact_match": (0.0, 0.5)},
}
FELL = [
    {"group_by": "kind", "group": "example", "metric": "f1"},
    {"group_by": "language", "group": "zh", "metric": "f1"},
    {"group_by": "domain", "group": "", "metric": "f1"},
]


def grouped_job(session, name: str = "Fairness"):
    """A finished job on two English legal tasks and two Chinese examples without a domain,
    every item an eval item, scored as ``SCORES`` says: (project, job, version)."""
    project, admin, _ = approved_project(session, drafts=DRAFTS, name=name)
    version = freezing.create_version(
        session=session, project=project, name="v1", f=VersionFilter(), actor=admin,
        eval_fraction=0,
    )  # fmt: skip
    job = jobs.launch(
        session=session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(max_steps=2),
        actor=admin,
    )
    session.flush()
    token = worker_token(session)
    claimed = queue.claim(session=session, worker="test-host:1", token_id=token)
    assert claimed is not None and claimed.id == job.id
    predictions = []
    for link, revision in versions.pinned(session, version.id):
        row = SCORES[revision.snapshot["language"]]
        scores = {f"base_{k}": base for k, (base, _) in row.items()}
        scores |= {f"tuned_{k}": tuned for k, (_, tuned) in row.items()}
        predictions.append(
            protocol.Prediction(
                item_id=link.item_id,
                kind=revision.snapshot["kind"],
                reference=revision.snapshot["output"],
                base_output="base",
                tuned_output="tuned",
                scores=scores,
            )
        )
    batch = protocol.PredictionBatch(attempt=claimed.attempts, predictions=predictions)
    queue.record_predictions(session=session, job_id=job.id, batch=batch, token_id=token)
    queue.finish(
        session=session, job_id=job.id, attempt=claimed.attempts, token_id=token,
        status="succeeded", metrics={"eval_loss": 1.0},
    )  # fmt: skip
    session.flush()
    return project, job, version


def _fell(entries) -> list[dict]:
    return [{k: e[k] for k in ("group_by", "group", "metric")} for e in entries]


class TestFlags:
    def test_a_group_that_fell_while_the_whole_rose_is_flagged(self):
        overall = [Row("f1", 0.4, 0.7), Row("rouge_l", 0.5, 0.4), Row("recall", None, 0.3)]
        tables = {
            "zh": groups.Group(2, [Row("f1", 0.6, 0.5), Row("rouge_l", 0.6, 0.5)]),
            "en": groups.Group(2, [Row("f1", 0.2, 0.9), Row("recall", None, 0.1)]),
        }
        fell = groups.fell_while_overall_rose(overall, {"language": tables})
        # rouge_l fell overall too: nothing hides there; recall has no base to compare.
        assert fell == [groups.Fell("language", "zh", "f1", pytest.approx(-0.1), 0.7 - 0.4)]

    def test_rounding_noise_is_no_change(self):
        overall = [Row("f1", 0.3, 0.3 + 1e-12), Row("rouge_l", 0.1, 0.2)]
        tables = {"zh": groups.Group(1, [Row("f1", 0.6, 0.1), Row("rouge_l", 0.6, 0.6 - 1e-12)])}
        assert groups.fell_while_overall_rose(overall, {"language": tables}) == []


class TestTraits:
    def test_the_pinned_revision_decides_then_the_item_then_unknown(self, db_session):
        _, job, version = grouped_job(db_session)
        pinned = {link.item_id: rev for link, rev in versions.pinned(db_session, version.id)}
        en = sorted(i for i, rev in pinned.items() if rev.snapshot["language"] == "en")
        zh = sorted(i for i, rev in pinned.items() if rev.snapshot["language"] == "zh")
        # Edited after the freeze: the job still learned from what the version pinned.
        db_session.get(Item, en[0]).domain = "Medicine"
        # Snapshots from before the language field: the item's column stands in, then unknown.
        for item_id, language in ((zh[0], "fr"), (zh[1], "")):
            revision = db_session.get(ItemRevision, pinned[item_id].id)
            revision.snapshot = {k: v for k, v in revision.snapshot.items() if k != "language"}
            db_session.get(Item, item_id).language = language
        db_session.flush()
        traits = groups.traits_of(db_session, version.id, [*en, *zh])
        assert traits == {
            en[0]: groups.Traits("en", LEGAL),
            en[1]: groups.Traits("en", LEGAL),
            zh[0]: groups.Traits("fr", ""),
            zh[1]: groups.Traits("unknown", ""),
        }

    def test_one_query_per_chunk_of_items(self, db_session, monkeypatch):
        _, job, version = grouped_job(db_session)
        ids = [link.item_id for link, _ in versions.pinned(db_session, version.id)]
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        connection = db_session.connection()
        event.listen(connection, "before_cursor_execute", count)
        try:
            assert len(groups.traits_of(db_session, version.id, ids)) == 4
            monkeypatch.setattr(groups, "CHUNK", 3)
            assert len(groups.traits_of(db_session, version.id, ids)) == 4
        finally:
            event.remove(connection, "before_cursor_execute", count)
        assert len(statements) == 1 + 2


class TestPage:
    def test_groups_flags_and_summary(self, client, db_session):
        project, job, _ = grouped_job(db_session)
        reviewer = make_user(db_session, role="reviewer")
        join(db_session, project, reviewer)
        login(client, reviewer.email)
        page = client.get(f"/jobs/{job.id}/results")
        assert page.status_code == 200
        summary = page.text.split('id="fell-while-rose"')[1].split("</section>")[0]
        lines = re.findall(
            r'<li data-group-by="(\w+)" data-group="([^"]*)" data-metric="(\w+)">(.*?)</li>',
            summary,
        )
        assert [line[:3] for line in lines] == [tuple(f.values()) for f in FELL]
        assert (
            lines[1][3]
            == "Tuned Token F1 fell for language zh (-10.0) while it rose overall (+30.0)."
        )
        assert "for domain (no domain) (-10.0)" in lines[2][3]
        assert "for kind example (-10.0)" in lines[0][3]

        by_language = page.text.split('id="metrics-by-language"')[1].split("metrics-by-domain")[0]
        cards = dict(
            re.findall(
                r'<section class="card" data-group="(\w+)">(.*?)</section>', by_language, re.S
            )
        )
        assert set(cards) == {"en", "zh"} and "(2 eval items)" in cards["zh"]
        flagged = re.findall(r'<tr class="fell" data-metric="(\w+)">(.*?)</tr>', cards["zh"], re.S)
        assert [metric for metric, _ in flagged] == ["f1"]
        assert "-10.0" in flagged[0][1] and "⚠ fell while overall rose" in flagged[0][1]
        assert 'title="Tuned is worse than base for this group' in flagged[0][1]
        assert "fell" not in cards["en"]
        assert re.search(r'data-metric="f1">.*?<td class="num">90.0</td>', cards["en"], re.S)

        by_domain = page.text.split('id="metrics-by-domain"')[1].split('id="eval-items"')[0]
        assert "Law &amp; &lt;Order&gt;" in by_domain and LEGAL not in page.text
        no_domain = by_domain.split('data-group="">')[1].split("</section>")[0]
        assert "(no domain)" in no_domain and 'class="fell" data-metric="f1"' in no_domain
        # The kind table carries the flag too; the overall one never does.
        example = page.text.split('id="metrics-example"')[1].split("</table>")[0]
        assert 'class="fell" data-metric="f1"' in example
        overall = page.text.split('id="metrics-overall"')[1].split("</table>")[0]
        assert "fell" not in overall

        fragment = client.get(f"/jobs/{job.id}/results", params={"kind": "task"}, headers=HX)
        assert fragment.status_code == 200 and 'id="predictions"' in fragment.text

    def test_no_summary_when_nothing_fell(self, client, db_session, monkeypatch):
        monkeypatch.setitem(SCORES, "zh", {"f1": (0.5, 0.6)})
        project, job, _ = grouped_job(db_session, name="Even")
        reviewer = make_user(db_session, role="reviewer")
        join(db_session, project, reviewer)
        login(client, reviewer.email)
        page = client.get(f"/jobs/{job.id}/results")
        assert page.status_code == 200 and 'id="metrics-by-language"' in page.text
        assert 'id="fell-while-rose"' not in page.text and 'class="fell"' not in page.text


class TestApi:
    def test_the_same_groups_and_flags(self, client, db_session):
        project, job, _ = grouped_job(db_session)
        response = client.get(
            f"/api/v1/jobs/{job.id}/results", headers=member(db_session, project, "reviewer")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body["per_language"]) == {"en", "zh"}
        assert set(body["per_domain"]) == {LEGAL, ""}
        assert set(body["per_kind"]) == {"task", "example"}
        zh = {r["metric"]: r for r in body["per_language"]["zh"]}
        assert zh["f1"]["base"] == 0.6 and zh["f1"]["tuned"] == 0.5
        assert zh["f1"]["delta"] == pytest.approx(-0.1)
        assert body["per_domain"][""] == body["per_language"]["zh"]
        assert body["per_domain"][LEGAL] == body["per_language"]["en"]
        assert body["group_items"] == {
            "kind": {"example": 2, "task": 2},
            "language": {"en": 2, "zh": 2},
            "domain": {LEGAL: 2, "": 2},
        }
        assert _fell(body["fell_while_overall_rose"]) == FELL
        for entry in body["fell_while_overall_rose"]:
            assert entry["delta"] == pytest.approx(-0.1)
            assert entry["overall_delta"] == pytest.approx(0.3)


def test_cli_prints_groups_and_warnings(backend, tmp_path):
    with seeded(backend, tmp_path, lambda s: grouped_job(s)[1].id) as (env, _, job_id):
        text = studio(env, "jobs", "results", str(job_id))
        assert text.returncode == 0, text.stderr
        data = as_json(studio(env, "jobs", "results", str(job_id), "--json"))
    lines = text.stdout.splitlines()
    assert (
        "warning: Tuned Token F1 fell for language zh (-0.100) while it rose overall (+0.300)."
        in lines
    )
    assert any(
        line.startswith("warning: Tuned Token F1 fell for domain (no domain)") for line in lines
    )
    zh = lines[lines.index("language zh, 2 eval items") :]
    f1 = next(line for line in zh if line.strip().startswith("Token F1"))
    assert f1.endswith("-0.100  ! fell while overall rose")
    en = lines[lines.index("language en, 2 eval items") :]
    assert "fell" not in next(line for line in en if line.strip().startswith("Token F1"))
    assert f"domain {LEGAL}, 2 eval items" in lines and "domain (no domain), 2 eval items" in lines
    assert _fell(data["fell_while_overall_rose"]) == FELL
    assert set(data["per_language"]) == {"en", "zh"} and data["group_items"]["domain"][""] == 2
