"""Images in user-written Markdown (project guidelines, model cards from workers). An image
loads by itself when a reader opens the page: a remote one tells its host who read the
guidelines and when (a tracking pixel), and one pointing at this app fires a request with the
reader's cookies. No rendered Markdown may contain an <img>; the picture stays reachable as a
link the reader chooses to follow."""

from __future__ import annotations

import re

import pytest

from app.markdown import render_markdown
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.helpers import login

IMAGES = [
    "![pixel](https://tracker.example/p.gif?who=reader)",
    "![pixel](http://tracker.example/p.gif)",
    "![pixel](//tracker.example/p.gif)",
    "![pixel](/\\tracker.example/p.gif)",
    "![logout](/logout)",
    "![rel](static/img/x.png)",
    "![data](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
    '![titled](https://tracker.example/t.gif "title")',
    "![ref][pic]\n\n[pic]: https://tracker.example/ref.gif",
    "[![nested](https://tracker.example/n.gif)](https://example.org/)",
    "<img src=https://tracker.example/raw.gif>",
    "| a |\n|---|\n| ![cell](https://tracker.example/cell.gif) |",
    "- ![item](https://tracker.example/li.gif)",
]


@pytest.mark.parametrize("source", IMAGES)
def test_no_image_is_rendered(source):
    html = str(render_markdown(source))
    assert "<img" not in html.lower()
    assert not re.search(r"<[^>]*\ssrc\s*=", html, re.IGNORECASE)  # no tag loads anything


def test_the_picture_stays_a_link_with_its_text():
    html = str(render_markdown("See ![the flow chart](https://example.org/flow.png)."))
    assert (
        '<a href="https://example.org/flow.png" rel="noopener noreferrer">the flow chart</a>'
        in html
    )
    nested = str(render_markdown("[![badge](https://e.example/b.svg)](https://e.example/)"))
    assert nested.count("<a ") == 1 and "badge" in nested


def test_an_unsafe_image_address_is_no_link_either():
    for source in ("![x](javascript:alert(1))", "![x](<javascript:alert(1)>)", "![x](vbscript:y)"):
        html = str(render_markdown(source))
        assert not re.search(r"<[^>]*(href|src)\s*=\s*\"?\s*(java|vb)script:", html, re.I)


def test_guidelines_pages_load_no_image(client, db_session, admin_user):
    project = projects.create_project(
        session=db_session,
        data=ProjectInput(name="Pictures", guidelines="\n\n".join(IMAGES)),
        actor=admin_user,
    )
    login(client, admin_user.email)
    page = client.get(f"/projects/{project.id}")
    assert page.status_code == 200
    assert "tracker.example" in page.text  # the links are there
    assert not re.search(r"<img[^>]*tracker\.example", page.text)
