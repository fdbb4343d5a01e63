"""What an import finds already in the project.

An item of the same content (the same content hash) is skipped: importing a file twice adds
nothing. A conversation whose first exchange is a task imported earlier is a *match*: the same
chat file imported before conversations were kept whole (only the first user turn and its reply
were), or in the task form. Matches are listed by the import's check and, unless the import is
told to write them, skipped too: the task stays as it is, and nothing is doubled.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.kinds import ItemKind
from app.core.provenance import Origin
from app.models import Item

# The schemas whose rows become conversations that an earlier import took a task from.
CHAT_SCHEMAS = frozenset({"sharegpt", "openai_chat"})


def exchange_key(user: str, reply: str) -> bytes:
    """One exchange's key: its two texts, told apart by the first one's length."""
    text = f"{len(user)}:{user}{reply}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Existing:
    """The project's content hashes and, for a chat schema, its imported tasks' exchanges.

    Both are read when it is made, before an import writes (its writer then holds the session).
    """

    def __init__(self, session: Session, project_id: int, schema: str) -> None:
        self.hashes: set[str] = set(
            session.scalars(select(Item.content_hash).where(Item.project_id == project_id))
        )
        self.exchanges: set[bytes] = set()
        if schema in CHAT_SCHEMAS:
            tasks = session.execute(
                select(Item.instruction, Item.output).where(
                    Item.project_id == project_id,
                    Item.origin == Origin.imported,
                    Item.kind == ItemKind.task,
                    Item.input == "",
                )
            )
            self.exchanges = {exchange_key(instruction, output) for instruction, output in tasks}

    def matches_task(self, content: dict[str, Any]) -> bool:
        """Whether a conversation's first exchange is an imported task of the project."""
        if not self.exchanges or content["kind"] != ItemKind.conversation:
            return False
        first, reply = content["turns"][0], content["turns"][1]
        return exchange_key(first["content"], reply["content"]) in self.exchanges
