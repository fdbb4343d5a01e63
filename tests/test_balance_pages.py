"""The balance report's page (and its htmx fragment) and JSON API, for a project and for a
dataset version: the figures of the known-shares project, the warnings' actions, user text
shown as text, thresholds out of range refused with the reason, and who may look."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.datasets import freezing
from app.datasets.versions import VersionFilter
from app.items import service as items
from tests.api_helpers import member, outsider, refused
from tests.factories import join, make_user
from tests.helpers import login
from tests.test_balance_report import balanced_project


@pytest.fixture
def balanced(db_session):
    project, admin, authors, created = balanced_project(db_session, name="Balance pages")
    version = freezing.create_version(
        session=db_session, project=project, name="v1", f=VersionFilter(), actor=admin,
        eval_fraction=0.25,
    )  # fmt: skip
    return project, admin, authors, created, version


def signed_in(app, db_session, project, role: str) -> TestClient:
    person = make_user(db_session)
    join(db_session, project, person, role=role)
    client = TestClient(app, follow_redirects=False)
    login(client, person.email)
    return client


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


def warnings_of(html: str) -> list[tuple[str, str, str, str]]:
    """(rule, dimension, action code, href) of each warning on the page."""
    return re.findall(
        r'data-rule="(\w+)" data-dimension="(\w+)">.*?href="([^"]+)" class="button small" '
        r'data-action="(\w+)"',
        section(html, "balance-warnings"),
    )


class TestProjectPage:
    def test_a_reviewer_sees_every_dimension_with_its_shares(self, app, db_session, balanced):
        project, *_ = balanced
        client = signed_in(app, db_session, project, "reviewer")
        page = client.get(f"/projects/{project.id}/balance")
        assert page.status_code == 200, page.text
        assert "20 items counted" in page.text
        kind = section(page.text, "balance-kind")
        assert re.search(r">task</a></td>\s*<td class=\"num\">10</td><td class=\"num\">50%", kind)
        assert 'value="0.3"' in kind and "Evenness <strong>0.94</strong>" in kind
        difficulty = section(page.text, "balance-difficulty")
        assert [v for v in re.findall(r'data-value="([^"]*)"', difficulty)] == ["1", "2", "3", ""]
        assert "no difficulty" in difficulty
        # The one default warning: the annotator who wrote 60%.
        assert "wrote 60% of the items, more than 50%." in page.text
        assert 'id="balance-ok"' not in page.text

    def test_a_domain_named_like_markup_shows_as_text(self, app, db_session, balanced):
        project, *_ = balanced
        client = signed_in(app, db_session, project, "reviewer")
        page = client.get(f"/projects/{project.id}/balance?min_share=0.1")
        domain = section(page.text, "balance-domain")
        assert "&lt;script&gt;" in domain and "<script>" not in domain
        assert "“&lt;script&gt;” holds 5% of the items, under the minimum of 10%." in page.text
        assert "<script>" not in section(page.text, "balance-warnings")

    def test_each_warning_links_to_the_action_that_addresses_it(self, app, db_session, balanced):
        project, _admin, (ann, bob, _cat), _items, _version = balanced
        client = signed_in(app, db_session, project, "manager")
        page = client.get(f"/projects/{project.id}/balance?min_share=0.25&max_share=0.25")
        found = warnings_of(page.text)
        base = f"/projects/{project.id}"
        assert ("thin", "kind", f"{base}/items/new?kind=example", "ask_for_kind") in found
        assert (
            "thin", "domain", f"{base}/items?status=approved&amp;domain=%3Cscript%3E",
            "augment_group",
        ) in found  # fmt: skip
        assert ("thin", "language", f"{base}/items?status=approved&amp;language=zh",
                "augment_group") in found  # fmt: skip
        assert ("dominant", "annotator", f"{base}/assign", "assign_work") in found
        assert ("dominant", "provenance", f"{base}/items/new", "write_by_hand") in found
        assert len(found) == 8
        rows = {}
        for _rule, dimension, href, _code in found:  # every action opens for a manager
            opened = client.get(href.replace("&amp;", "&"))
            assert opened.status_code == 200, href
            rows[dimension] = len(re.findall(r'<tr data-item="\d+">', opened.text))
        # The filtered lists hold the thin groups' items: one "<script>", four in Chinese.
        assert (rows["domain"], rows["language"]) == (1, 4)

    def test_a_reviewer_is_sent_to_the_annotators_items_not_the_assign_page(
        self, app, db_session, balanced
    ):
        project, _admin, (ann, *_), _items, _version = balanced
        client = signed_in(app, db_session, project, "reviewer")
        page = client.get(f"/projects/{project.id}/balance")
        ((rule, dimension, href, code),) = warnings_of(page.text)
        assert (rule, dimension, code) == ("dominant", "annotator", "annotator_items")
        assert href == f"/projects/{project.id}/items?status=approved&amp;author={ann.id}"
        assert client.get(href.replace("&amp;", "&")).status_code == 200

    def test_the_scope_of_every_item_but_rejected_ones(self, app, db_session, balanced):
        project, *_ = balanced
        client = signed_in(app, db_session, project, "reviewer")
        page = client.get(f"/projects/{project.id}/balance?scope=not_rejected")
        assert "21 items counted" in page.text
        assert '<option value="not_rejected" selected>' in page.text
        # The list it links to is not narrowed to approved items.
        assert f"/projects/{project.id}/items?kind=task" in page.text

    @pytest.mark.parametrize(
        ("query", "field"), [("min_share=0.7", "min_share"), ("max_share=abc", "max_share")]
    )
    def test_a_threshold_out_of_range_is_refused_in_place(
        self, app, db_session, balanced, query, field
    ):
        project, *_ = balanced
        client = signed_in(app, db_session, project, "reviewer")
        page = client.get(f"/projects/{project.id}/balance?{query}")
        assert page.status_code == 400
        assert 'id="balance-error"' in page.text and f'id="{field}-error"' in page.text
        assert "A threshold is out of range" in page.text
        assert f'value="{query.split("=")[1]}"' in page.text  # what was typed stays
        assert "items counted" not in page.text

    def test_htmx_gets_the_fragment_and_a_visit_the_page(self, app, db_session, balanced):
        project, *_ = balanced
        client = signed_in(app, db_session, project, "reviewer")
        url = f"/projects/{project.id}/balance?min_share=0.1"
        fragment = client.get(url, headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text and 'id="balance-form"' in fragment.text
        assert "<title>Balance · Balance pages" in fragment.text
        full = client.get(url)
        assert "<html" in full.text and 'id="balance-form"' in full.text

    def test_the_statistics_page_links_to_it(self, app, db_session, balanced):
        project, *_ = balanced
        client = signed_in(app, db_session, project, "reviewer")
        stats = client.get(f"/projects/{project.id}/stats")
        assert f'href="/projects/{project.id}/balance" id="balance-link"' in stats.text


class TestVersionPage:
    def test_the_version_page_links_to_its_report_of_pinned_items(self, app, db_session, balanced):
        project, admin, _authors, created, version = balanced
        client = signed_in(app, db_session, project, "reviewer")
        detail = client.get(f"/datasets/{version.id}")
        assert f'href="/datasets/{version.id}/balance" id="balance-link"' in detail.text
        first = created[0]
        items.update_item(
            session=db_session, item_id=first.id, expected_version=first.version, editor=admin,
            draft=items.draft_of(first).model_copy(update={"domain": "code"}),
        )  # fmt: skip
        page = client.get(f"/datasets/{version.id}/balance")
        assert page.status_code == 200
        assert f"train {version.train_count} · eval {version.eval_count}" in page.text
        domain = section(page.text, "balance-domain")
        assert re.search(r">math</a></td>\s*<td class=\"num\">10</td>", domain)
        assert domain.count('<td class="num">') == 4 * 4  # items, share, train, eval per group
        assert 'id="b-scope"' not in page.text  # a version counts what it pinned


class TestApi:
    def test_the_project_figures(self, client, db_session, balanced):
        project, _admin, (ann, *_), _items, _version = balanced
        response = client.get(
            f"/api/v1/projects/{project.id}/balance?min_share=0.25&max_share=0.25",
            headers=member(db_session, project, "reviewer"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["total"], body["scope"], body["version_id"]) == (20, "approved", None)
        assert (body["min_share"], body["max_share"]) == (0.25, 0.25)
        dimensions = {d["name"]: d for d in body["dimensions"]}
        assert list(dimensions) == [
            "kind", "domain", "language", "annotator", "provenance", "difficulty",
        ]  # fmt: skip
        kind = dimensions["kind"]
        assert [(g["value"], g["count"], g["share"]) for g in kind["groups"]] == [
            ("task", 10, 0.5), ("constraint", 6, 0.3), ("example", 4, 0.2),
        ]  # fmt: skip
        assert kind["entropy"] == pytest.approx(0.9372305632) and not kind["one_group"]
        annotator = dimensions["annotator"]["groups"][0]
        assert (annotator["value"], annotator["email"]) == (ann.id, ann.email)
        assert dimensions["domain"]["groups"][-1] == {
            "value": None, "label": "no domain", "email": None, "count": 3, "share": 0.15,
            "train": None, "eval": None,
        }  # fmt: skip
        thin_kind = next(w for w in body["warnings"] if w["dimension"] == "kind")
        assert thin_kind["rule"] == "thin" and thin_kind["group"]["value"] == "example"
        assert thin_kind["message"] == (
            "Kind “example” holds 20% of the items, under the minimum of 25%."
        )
        assert thin_kind["action"] == {
            "code": "ask_for_kind",
            "label": "Ask for more of this kind",
            "href": f"/projects/{project.id}/items/new?kind=example",
        }
        source = next(w for w in body["warnings"] if w["dimension"] == "provenance")
        assert source["message"] == (
            "Items made as “imported” are 30% of the items, more than 25%."
        )

    def test_the_version_figures(self, client, db_session, balanced):
        project, _admin, _authors, _items, version = balanced
        response = client.get(
            f"/api/v1/datasets/{version.id}/balance",
            headers=member(db_session, project, "reviewer"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["version_id"], body["scope"], body["total"]) == (version.id, None, 20)
        assert (body["train"], body["eval"]) == (version.train_count, version.eval_count)
        language = next(d for d in body["dimensions"] if d["name"] == "language")
        assert [(g["value"], g["count"]) for g in language["groups"]] == [("en", 16), ("zh", 4)]
        assert sum(g["train"] + g["eval"] for g in language["groups"]) == 20

    @pytest.mark.parametrize(
        ("query", "error", "field"),
        [("min_share=0.6", "invalid", "min_share"), ("max_share=0", "invalid", "max_share"),
         ("min_share=nan", "invalid", "min_share"),
         ("min_share=abc", "validation_error", "min_share")],
    )  # fmt: skip
    def test_thresholds_out_of_range_answer_422_naming_the_field(
        self, client, db_session, balanced, query, error, field
    ):
        project, *_ = balanced
        response = client.get(
            f"/api/v1/projects/{project.id}/balance?{query}",
            headers=member(db_session, project, "reviewer"),
        )
        refused(response, 422, error)
        assert [d["field"] for d in response.json()["detail"]] == [field]

    def test_annotators_are_refused_and_outsiders_find_nothing(self, client, db_session, balanced):
        project, _admin, _authors, _items, version = balanced
        for path in (f"/api/v1/projects/{project.id}/balance",
                     f"/api/v1/datasets/{version.id}/balance"):  # fmt: skip
            refused(client.get(path, headers=member(db_session, project, "annotator")), 403,
                    "forbidden")  # fmt: skip
            refused(client.get(path, headers=outsider(db_session)), 404, "not_found")
