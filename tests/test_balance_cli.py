"""`studio balance`: a project's and a dataset version's balance report as a real process on a
fresh database, in JSON (the API's shape) and as text, and its refusals."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.datasets import freezing
from app.datasets.versions import VersionFilter
from tests.test_balance_report import balanced_project
from tests.test_cli_datasets import as_json, seeded, studio


def _seed(session: Session) -> dict:
    project, admin, authors, _items = balanced_project(session, name="Balanced CLI")
    version = freezing.create_version(
        session=session, project=project, name="v1", f=VersionFilter(), actor=admin,
        eval_fraction=0.25,
    )  # fmt: skip
    return {
        "project": project.id,
        "version": version.id,
        "split": (version.train_count, version.eval_count),
        "ann": (authors[0].id, authors[0].email),
    }


@pytest.fixture(scope="module")
def setup(backend, tmp_path_factory):
    """One database for the module: every command here only reads."""
    with seeded(backend, tmp_path_factory.mktemp("balance"), _seed) as ready:
        yield ready


def test_the_project_report_in_json_is_the_apis(setup):
    env, _engine, ids = setup
    body = as_json(studio(env, "balance", "Balanced CLI", "--min-share", "0.25", "--json"))
    assert (body["project_id"], body["total"], body["scope"]) == (ids["project"], 20, "approved")
    assert (body["min_share"], body["max_share"]) == (0.25, 0.5)
    kind = body["dimensions"][0]
    assert [(g["value"], g["count"], g["share"]) for g in kind["groups"]] == [
        ("task", 10, 0.5), ("constraint", 6, 0.3), ("example", 4, 0.2),
    ]  # fmt: skip
    assert kind["entropy"] == pytest.approx(0.9372305632)
    found = {(w["rule"], w["dimension"], w["group"]["value"]) for w in body["warnings"]}
    assert ("thin", "kind", "example") in found
    assert ("dominant", "annotator", ids["ann"][0]) in found
    thin = next(w for w in body["warnings"] if w["dimension"] == "kind")
    assert thin["action"]["href"] == f"/projects/{ids['project']}/items/new?kind=example"


def test_the_version_report_as_text(setup):
    env, _engine, ids = setup
    done = studio(env, "balance", "--version", str(ids["version"]), "--max-share", "0.25")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"version {ids['version']}: 20 items (pinned); thin under 0.05, dominant over 0.25"
    )
    assert (
        f"warning    Items made as “imported” are 30% of the items, more than 25%. -> "
        f"Write more items by hand: /projects/{ids['project']}/items/new"
    ) in lines
    assert "kind (evenness 0.937)" in lines
    assert any(line.split() == ["<script>", "1", "5.0%"] for line in lines)
    assert any(line.split() == ["no", "domain", "3", "15.0%"] for line in lines)
    body = as_json(studio(env, "balance", "--version", str(ids["version"]), "--json"))
    assert (body["train"], body["eval"]) == ids["split"]


def test_refusals(setup):
    env, _engine, ids = setup
    out_of_range = studio(env, "balance", "Balanced CLI", "--min-share", "0.7")
    assert out_of_range.returncode == 1
    assert "error: A threshold is out of range" in out_of_range.stderr
    both = studio(env, "balance", "Balanced CLI", "--version", str(ids["version"]))
    assert both.returncode == 2 and "name a PROJECT or a --version" in both.stderr
