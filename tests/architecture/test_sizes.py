"""Modules stay small enough to read (design §8: split one as it nears 400 lines), and the
worker's job reads top to bottom as named steps."""

from __future__ import annotations

import ast

from app.paths import ROOT

MAX_LINES = 400


def test_no_module_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for folder in ("app", "trainer")
        for path in (ROOT / folder).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_run_job_is_a_short_list_of_steps():
    found = [
        node
        for path in (ROOT / "trainer").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == "run_job"
    ]
    assert len(found) == 1
    run_job = found[0]
    assert run_job.end_lineno - run_job.lineno + 1 < 60
    # Steps are functions of their own, not closures over shared state.
    assert not [n for n in ast.walk(run_job) if isinstance(n, ast.FunctionDef) and n is not run_job]
