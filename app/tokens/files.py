"""A worker token kept in a file, for workers started beside the app (`studio run`, docker
compose): reused while it is live, replaced when it was revoked or the file is missing."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from app.tokens import service


def ensure_worker_token_file(session: Session, path: Path, *, name: str) -> str:
    if path.exists():
        raw = path.read_text().strip()
        if raw and service.resolve_token(session=session, raw=raw) is not None:
            return raw
    raw = service.create_token(
        session=session, name=name, scope="worker", owner=None, actor=None
    ).raw
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole or not at all, readable by its owner only.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(raw)
    tmp.replace(path)
    return raw
