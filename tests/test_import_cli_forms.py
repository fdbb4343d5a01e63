"""`studio import --one-exchange task`: the form of one-exchange chats from the command line,
as a real process on a real database."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Item
from tests.test_cli_data import setup, studio  # noqa: F401 - the fixture

ROWS = [
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
    {
        "system": "Be brief.",
        "conversations": [
            {"from": "human", "value": "Capital of France?"},
            {"from": "gpt", "value": "Paris."},
            {"from": "human", "value": "And Spain?"},
            {"from": "gpt", "value": "Madrid."},
        ],
    },
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "observation", "value": "{}"}]},
]


def test_the_cli_takes_the_form_and_reports_bad_turns_by_line(setup, tmp_path):  # noqa: F811
    env, engine, project_id = setup
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    done = studio(
        env, "import", str(path), "--project", "Numbers", "--mode", "valid_rows",
        "--one-exchange", "task",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "line 3: conversations[1] has the role 'observation'; tool calls cannot be imported" in (
        done.stdout
    )
    assert "imported 2 items" in done.stdout
    with Session(engine) as session:
        items = session.scalars(select(Item).where(Item.project_id == project_id)).all()
        kinds = {item.instruction: (item.kind, item.system, len(item.turns)) for item in items}
    assert kinds == {"Hi": ("task", "", 0), "Capital of France?": ("conversation", "Be brief.", 4)}
    refused = studio(env, "import", str(path), "--project", "Numbers", "--one-exchange", "x")
    assert refused.returncode == 2 and "--one-exchange" in refused.stderr
