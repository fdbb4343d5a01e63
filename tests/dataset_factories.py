"""Projects whose items are approved, through the real services: what a dataset version
is frozen from."""

from __future__ import annotations

from app.items import service as items
from app.items.schemas import ItemDraft
from app.reviews import service as reviews
from tests.factories import make_user
from tests.review_factories import make_project

DRAFTS = (
    [
        ItemDraft(
            kind="task",
            instruction=f"Translate sentence {i} into French.",
            input=f"The weather is nice on day {i}.",
            output=f"Il fait beau le jour {i}.",
        )
        for i in range(8)
    ]
    + [
        ItemDraft(
            kind="constraint",
            instruction=f"Describe the colour {c} without commas.",
            output=f"{c} is a colour people like",
            constraints=[{"id": "punctuation:no_comma"}],
        )
        for c in ("red", "blue", "green", "yellow")
    ]
    + [
        ItemDraft(
            kind="example",
            instruction="Give the antonym.",
            demos=[{"input": "hot", "output": "cold"}, {"input": "up", "output": "down"}],
            input=word,
            output=opposite,
        )
        for word, opposite in (("big", "small"), ("fast", "slow"), ("早", "晚"), ("高", "矮"))
    ]
)


def approved_project(session, *, drafts=DRAFTS, name="Dataset project"):
    admin = make_user(session, role="admin")
    author, reviewer = make_user(session), make_user(session, role="reviewer")
    project = make_project(session, admin, name=name, members=(author, reviewer))
    created = []
    for draft in drafts:
        item = items.create_item(
            session=session, project=project, draft=draft, author=author, submit=True
        )
        reviews.decide(
            session=session,
            item_id=item.id,
            reviewer=reviewer,
            decision="approve",
            version=item.version,
        )
        created.append(item)
    return project, admin, created


def make_duplicates(session, project, author):
    """Two near-copies (submitted) and two exact copies (drafts) in ``project``: (near, same)."""
    base = (
        "Explain to a new colleague how to book a meeting room using the office calendar "
        "and what to do when it is already taken"
    )
    near = [
        items.create_item(
            session=session,
            project=project,
            author=author,
            submit=True,
            draft=ItemDraft(kind="task", instruction=base + end, output="Ok."),
        )
        for end in (".", " today.")
    ]
    same = [
        items.create_item(
            session=session,
            project=project,
            author=author,
            draft=ItemDraft(kind="task", instruction="Say hi.", output="Hi."),
        )
        for _ in range(2)
    ]
    return near, same
