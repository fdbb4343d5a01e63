"""Writing preference pairs through the editor in tests: the text of each prompt form, the form
the editor posts, and reading its errors back."""

from __future__ import annotations

import re

from app.items import service as items
from app.items.schemas import ItemDraft

CHOSEN = "Paris is the capital of France."
REJECTED = "I think it might be Lyon, but I am not sure at all."
TURNS = [
    ("user", "I am planning a trip to France."),
    ("assistant", "Lovely! How can I help?"),
    ("user", "What is its capital?"),
]
# What each prompt form posts beside the two responses.
PROMPTS = {
    "single": {"instruction": "Name the capital of France.", "input": "Answer in one sentence."},
    "few_shot": {
        "instruction": "Name the capital.",
        "demo_input": ["Italy", "Spain"],
        "demo_output": ["Rome is the capital of Italy.", "Madrid is the capital of Spain."],
        "input": "France",
    },
    "turns": {
        "turn_role": [role for role, _ in TURNS],
        "turn_content": [content for _, content in TURNS],
    },
}
# Every form carries every prompt form's fields; only the chosen form's count.
STALE = {
    "instruction": "Stale instruction.",
    "input": "Stale input.",
    "demo_input": ["stale"],
    "demo_output": ["stale"],
    "turn_role": ["user"],
    "turn_content": ["Stale turn."],
}


def pair_form(prompt_form="single", chosen=CHOSEN, rejected=REJECTED, **fields):
    return {
        **STALE,
        **PROMPTS[prompt_form],
        "kind": "preference",
        "prompt_form": prompt_form,
        "output": chosen,
        "rejected": rejected,
        "action": "save",
        **fields,
    }


def post_pair(client, csrf, project, headers=None, **fields):
    data = {**pair_form(**fields), "csrf_token": csrf}
    return client.post(f"/projects/{project.id}/items", data=data, headers=headers or {})


def make_pair(session, project, author, **extra):
    fields = {"instruction": "Name the capital of France.", "output": CHOSEN, "rejected": REJECTED}
    draft = ItemDraft(kind="preference", **{**fields, **extra})
    return items.create_item(session=session, project=project, draft=draft, author=author)


def error_of(html: str, key: str) -> str:
    match = re.search(rf'<p class="field-error" id="{re.escape(key)}-error">([^<]*)</p>', html)
    assert match, f"no error shown for {key}"
    return match.group(1)


def sent_form(html: str) -> str:
    """The editor's form without its <template>s (which send nothing)."""
    form = html.split('id="item-form"', 1)[1].split("</form>", 1)[0]
    return re.sub(r"<template.*?</template>", "", form, flags=re.S)
