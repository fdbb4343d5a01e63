"""Stored XSS through the reopen link (issue 14, item 1).

A reviewer reopens an approved item with a "what flagged it" link; the review page showed it as
``<a href>``, so ``javascript:`` ran in the next reviewer's (or admin's) session, on a page that
carries the CSRF token. Every path that stores a link now accepts only a path inside the app or
an http(s) address, and pages make only the former a live link.
"""

from __future__ import annotations

import re

from sqlalchemy import update

from app.errors import InvalidInput
from app.models import Item, Project
from app.reviews import service
from tests.factories import join, make_token, make_user
from tests.helpers import login
from tests.review_factories import make_item, make_project

HOSTILE = {
    "javascript": "javascript:fetch('/api/v1/me').then(r=>r.text()).then(alert)",
    "javascript-mixed-case": "JaVaScRiPt:alert(document.cookie)",
    "javascript-entity-tab": "java\tscript:alert(1)",
    "javascript-leading-space": " \njavascript:alert(1)",
    "vbscript": "vbscript:msgbox(1)",
    "data": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "protocol-relative": "//evil.example/steal",
    "backslash-after-slash": "/\\evil.example/steal",
    "backslashes": "\\\\evil.example\\steal",
    "tab-in-protocol-relative": "/\t/evil.example",
    "newline-in-protocol-relative": "/\n/evil.example",
    "scheme-without-slashes": "https:evil.example",
    "credentials-trick": "https://studio.example@evil.example/",
    "relative-without-slash": "evil.example/steal",
    "ftp": "ftp://evil.example/",
}


def _approved(db_session, admin):
    author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
    item = make_item(
        db_session, make_project(db_session, admin, members=[author, reviewer]), author
    )
    service.decide(
        session=db_session,
        item_id=item.id,
        reviewer=reviewer,
        decision="approve",
        version=item.version,
    )
    return item


def _reviewer(db_session, item):
    """A new reviewer of the item's project."""
    reviewer = make_user(db_session, role="reviewer")
    join(db_session, db_session.get(Project, item.project_id), reviewer)
    return reviewer


def _api_token(db_session, item):
    return make_token(db_session, scope="user", owner=_reviewer(db_session, item))


def _reopen_over_api(client, token, item_id, link):
    return client.post(
        f"/api/v1/items/{item_id}/reopen",
        headers={"Authorization": f"Bearer {token}"},
        json={"reason": "factual_error", "link": link},
    )


def _banner(page_text: str) -> str:
    return page_text.split('id="reopen-reason"')[1].split("</p>")[0]


class TestRefused:
    def test_api_refuses_each_link_with_a_clear_422(self, client, db_session, admin_user):
        item = _approved(db_session, admin_user)
        token = _api_token(db_session, item)
        wrong = {}
        for name, link in HOSTILE.items():
            response = _reopen_over_api(client, token, item.id, link)
            body = response.json()
            detail = body.get("detail")
            clear = (
                response.status_code == 422
                and body["error"] == "invalid"
                and isinstance(detail, list)
                and [d["field"] for d in detail] == ["link"]
                and detail[0]["message"].startswith("A link ")
            )
            if not clear:
                wrong[name] = (response.status_code, body)
        assert wrong == {}
        db_session.refresh(item)
        assert item.status == "approved" and item.reopen_link is None

    def test_the_service_refuses_them_for_every_caller(self, db_session, admin_user):
        item = _approved(db_session, admin_user)
        stored = []
        for name, link in HOSTILE.items():
            try:
                service.reopen(
                    session=db_session,
                    item_id=item.id,
                    actor=admin_user,
                    reason="flagged_by_training",
                    link=link,
                )
            except InvalidInput as refused:
                assert "link" in refused.errors, name
            else:
                stored.append(name)
        assert stored == []
        db_session.refresh(item)
        assert item.status == "approved" and item.reopen_link is None

    def test_the_html_form_stores_no_link(self, client, db_session, admin_user):
        item = _approved(db_session, admin_user)
        reviewer = _reviewer(db_session, item)
        csrf = login(client, reviewer.email)
        done = client.post(
            f"/items/{item.id}/reopen",
            data={"csrf_token": csrf, "reason": "other", "link": HOSTILE["javascript"]},
        )
        assert done.status_code == 303
        db_session.refresh(item)
        assert item.status == "submitted" and item.reopen_link is None


class TestShown:
    def test_an_outside_address_is_text_with_its_host_not_a_link(
        self, client, db_session, admin_user
    ):
        item = _approved(db_session, admin_user)
        url = "https://wandb.example.org/runs/42?tab=loss"
        response = _reopen_over_api(client, _api_token(db_session, item), item.id, url)
        assert response.status_code == 200, response.text
        login(client, _reviewer(db_session, item).email)
        banner = _banner(client.get(f"/items/{item.id}/review").text)
        assert "<a " not in banner and "href=" not in banner
        assert "https://wandb.example.org/runs/42?tab=loss" in banner.replace("&amp;", "&")
        assert re.search(r'id="reopen-link-host">[^<]*wandb\.example\.org', banner)

    def test_a_path_in_the_app_is_a_live_link(self, client, db_session, admin_user):
        item = _approved(db_session, admin_user)
        response = _reopen_over_api(
            client, _api_token(db_session, item), item.id, "/jobs/7/datamap"
        )
        assert response.status_code == 200, response.text
        login(client, _reviewer(db_session, item).email)
        banner = _banner(client.get(f"/items/{item.id}/review").text)
        assert '<a href="/jobs/7/datamap" id="reopen-link">' in banner

    def test_a_link_stored_before_the_rule_is_never_live(self, client, db_session, admin_user):
        item = _approved(db_session, admin_user)
        service.reopen(
            session=db_session, item_id=item.id, actor=admin_user, reason="flagged_by_training"
        )
        login(client, _reviewer(db_session, item).email)
        live = {}
        for name, link in HOSTILE.items():
            db_session.execute(update(Item).where(Item.id == item.id).values(reopen_link=link))
            banner = _banner(client.get(f"/items/{item.id}/review").text)
            if "<a " in banner or "href=" in banner:
                live[name] = banner
        assert live == {}
