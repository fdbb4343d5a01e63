"""What the item editor tests share: a project, the forms each kind posts, and requests
to the editor's endpoints."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.items import service as items
from app.items.schemas import ItemDraft
from app.models import AuditEvent, Item
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.factories import join

HX = {"HX-Request": "true"}
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
# Whitespace, newlines, CJK and an emoji: all must survive the round trip byte for byte.
ZH_INSTRUCTION = "用一句话解释机器学习。\n  要求：通俗易懂 ✓ 😀\t"
ZH_OUTPUT = "机器学习是让计算机从数据中学习规律的方法。"

FORMS = {
    "task": {"instruction": ZH_INSTRUCTION, "input": "", "output": ZH_OUTPUT},
    "constraint": {
        "instruction": "Describe the sea in at least five words.",
        "output": "The sea is wide and deep.",
        "constraint_row": ["7"],
        "c.7.id": "length_constraints:number_words",
        "c.7.num_words": "5",
        "c.7.relation": "at least",
        "rules": "formal tone\n\n  no emojis  ",
        "state_constraints": ["false", "true"],
    },
    "example": {
        "instruction": "Translate into French.",
        "demo_input": ["one", "two", "three"],
        "demo_output": ["un", "deux", "trois"],
        "input": "four",
        "output": "quatre",
    },
}


def editor_project(db_session, admin_user, *people):
    """The project every editor test writes into (each test module makes it its fixture),
    with ``people`` as its members in the roles their global roles match."""
    project = projects.create_project(
        session=db_session,
        data=ProjectInput(name="Editor", guidelines="v1", domains=["science"]),
        actor=admin_user,
    )
    join(db_session, project, *people)
    return project


def make_item(session, project, author, instruction="Say hello.", output="Hello.", **extra):
    draft = ItemDraft(kind="task", instruction=instruction, output=output, **extra)
    return items.create_item(session=session, project=project, draft=draft, author=author)


def post_new(client, csrf, project, kind, headers=None, **fields):
    data = {**FORMS[kind], "kind": kind, "action": "save", "csrf_token": csrf, **fields}
    return client.post(f"/projects/{project.id}/items", data=data, headers=headers or {})


def post_update(client, csrf, item, headers=None, **fields):
    data = {
        "kind": item.kind,
        "instruction": item.instruction,
        "output": item.output,
        "action": "save",
        "version": str(item.version),
        "csrf_token": csrf,
        **fields,
    }
    return client.post(f"/items/{item.id}", data=data, headers=headers or {})


def check_live(client, csrf, project, **fields):
    data = {"kind": "task", "instruction": "", "output": "", "csrf_token": csrf, **fields}
    return client.post(f"/projects/{project.id}/items/check", data=data)


def created_item(session, response):
    location = response.headers.get("location") or response.headers["HX-Redirect"]
    match = re.fullmatch(r"/items/(\d+)/edit", location)
    assert match, location
    return session.get(Item, int(match.group(1)))


def audits_of(session, item, action):
    return session.scalars(
        select(AuditEvent).where(AuditEvent.action == action, AuditEvent.entity_id == str(item.id))
    ).all()
