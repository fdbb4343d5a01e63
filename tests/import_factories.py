"""Importing a file in tests the way the import task does its first part (``imports.run``),
and rows to import."""

from __future__ import annotations

import json

from app.imports import service as imports
from app.imports.reader import ImportOptions


def import_file(
    session, tmp_path, project, actor, name: str, payload: bytes, *, run=None, **options
):
    """Store ``payload`` as an upload named ``name`` and import it with ``options``; ``run``
    holds further arguments of ``imports.run`` (``commit``, ``batch_rows``)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_bytes(payload)
    with path.open("rb") as f:
        job = imports.store_upload(
            session=session,
            project=project,
            filename=name,
            stream=f,
            folder=tmp_path / "store",
            actor=actor,
        )
    return imports.run(
        session=session,
        job_id=job.id,
        actor=actor,
        options=ImportOptions(**options),
        **(run or {}),
    )


def alpaca_lines(n: int) -> list[str]:
    """``n`` Alpaca JSON lines: "Say the number i." → "i"."""
    return [
        json.dumps({"instruction": f"Say the number {i}.", "input": "", "output": str(i)})
        for i in range(1, n + 1)
    ]
