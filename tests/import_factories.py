"""Importing a file in tests the way the import task does its first part (``imports.run``),
and rows to import."""

from __future__ import annotations

import json

from app.imports import passes
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


def rows_phase_commits(rows: int, batch: int, postgresql: bool) -> int:
    """The commits of an all-or-nothing import's rows phase: one a full batch, but on
    PostgreSQL the batches its check pass wrote ahead share one, made as the pass ends (with
    every row when the file holds no more)."""
    full = rows // batch
    if not postgresql:
        return full
    return 1 + max(0, full - passes.AHEAD_BATCHES)


def rows_committed(commits: int, batch: int, postgresql: bool) -> int:
    """The rows in after that many commits of a long all-or-nothing import's rows phase."""
    return (commits - 1 + passes.AHEAD_BATCHES if postgresql else commits) * batch
