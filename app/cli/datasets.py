"""`studio datasets …`: a project's dataset versions, one version's figures, and freezing a
new one through the same background task as the datasets page."""

from __future__ import annotations

import sys
from typing import Any

import click

from app.cli.common import unit_of_work
from app.cli.lookup import (
    actor_of,
    actor_option,
    emit_json,
    excerpt,
    json_option,
    number,
    project_of,
    table,
    when,
)
from app.core.kinds import ItemKind
from app.core.provenance import Origin
from app.core.status import ItemStatus


@click.group()
def datasets() -> None:
    """Dataset versions: list, show and freeze."""


def _summary(version) -> dict[str, Any]:
    return {
        "id": version.id,
        "project_id": version.project_id,
        "name": version.name,
        "manifest_hash": version.manifest_hash,
        "train_count": version.train_count,
        "eval_count": version.eval_count,
        "contaminated": len(version.contamination or []),
        "created_at": version.created_at,
    }


@datasets.command("list")
@click.argument("project_ref", metavar="PROJECT")
@json_option
def list_versions(project_ref: str, as_json: bool) -> None:
    """PROJECT's dataset versions, newest first, and the freezes still under way."""
    from app.background import queue
    from app.datasets import task, versions

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        found = versions.list_versions(session=session, project_id=project.id)
        freezing = [
            t
            for t in queue.of_project(session, project.id, limit=10)
            if t.kind == task.KIND and not t.finished
        ]
        if as_json:
            emit_json(
                {
                    "project": {"id": project.id, "name": project.name},
                    "versions": [_summary(v) for v in found],
                    "freezing": [
                        {"task_id": t.id, "name": t.payload.get("name"), "state": t.state}
                        for t in freezing
                    ],
                }
            )
            return
        rows = [["ID", "NAME", "TRAIN", "EVAL", "MANIFEST", "CREATED"]]
        rows += [
            [
                str(v.id),
                v.name,
                str(v.train_count),
                str(v.eval_count),
                v.manifest_hash[:12],
                when(v.created_at),
            ]
            for v in found
        ]
        if found:
            table(rows)
        else:
            click.echo(f"{project.name} has no dataset version yet")
        for t in freezing:
            click.echo(f"freezing {t.payload.get('name')!r}: background task {t.id}, {t.state}")


def _detail(version, project) -> dict[str, Any]:
    stats = dict(version.stats or {})
    return {
        **_summary(version),
        "project": project.name,
        "filter": version.filter,
        "seed": version.seed,
        "eval_fraction": version.eval_fraction,
        "license": version.license,
        "statistics": {k: v for k, v in stats.items() if k != "contamination_check"},
        "contamination": {
            "check": stats.get("contamination_check") or {},
            "pairs": version.contamination or [],
        },
    }


@datasets.command("show")
@click.argument("version_id", metavar="VERSION", type=int)
@json_option
def show_version(version_id: int, as_json: bool) -> None:
    """One version: manifest hash, split counts, statistics and the contamination check."""
    from app.datasets import versions
    from app.projects import service as projects

    with unit_of_work() as session:
        version = versions.get_version(session=session, version_id=version_id)
        project = projects.get_project(session=session, project_id=version.project_id)
        detail = _detail(version, project)
    if as_json:
        emit_json(detail)
        return
    stats, checked = detail["statistics"], detail["contamination"]["check"]
    click.echo(f"version {detail['id']} {detail['name']} of {detail['project']}")
    click.echo(f"manifest   {detail['manifest_hash']}")
    click.echo(
        f"items      {detail['train_count']} train, {detail['eval_count']} eval "
        f"(eval fraction {detail['eval_fraction']}, seed {detail['seed']})"
    )
    click.echo(f"filter     {_filter_text(detail['filter'])}")
    if detail["license"]:
        click.echo(f"license    {detail['license']}")
    click.echo(f"created    {when(version.created_at)}")
    for name in ("kind", "domain", "language", "difficulty", "annotator"):
        counts = stats.get("counts", {}).get(name) or {}
        if counts:
            click.echo(f"{name:<10} " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    if "total" not in stats:
        click.echo("statistics are still being computed")
    else:
        click.echo(
            f"distinct   distinct-1 {number(stats.get('distinct_1'))}, "
            f"distinct-2 {number(stats.get('distinct_2'))}"
        )
    for warning in stats.get("warnings", []):
        click.echo(
            f"warning    {warning['field']} {warning['value']} is only "
            f"{warning['share']:.1%} of the items"
        )
    pairs = detail["contamination"]["pairs"]
    if checked:
        click.echo(
            f"contamination  {checked.get('contaminated', len(pairs))} of "
            f"{checked.get('eval_items', detail['eval_count'])} eval items "
            f"close to a training item"
        )
    for pair in pairs[:10]:
        click.echo(
            f"  eval #{pair['eval_item']} ~ train #{pair['train_item']} "
            f"(similarity {pair['similarity']})"
        )


def _filter_text(f: dict[str, Any]) -> str:
    parts = [f"{key} {','.join(map(str, v)) if isinstance(v, list) else v}" for key, v in f.items()]
    return excerpt("; ".join(parts), 200) or "every item"


@datasets.command("freeze")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--name", required=True, help="The version's name.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in ItemStatus]),
    help="Item status to include (repeatable; default: approved).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice([k.value for k in ItemKind]),
    help="Item kind to include (repeatable; default: every kind).",
)
@click.option("--domain", "domains", multiple=True, help="Domain to include (repeatable).")
@click.option("--language", "languages", multiple=True, help="Language to include (repeatable).")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    type=click.Choice([o.value for o in Origin]),
    help="How the items were made (repeatable; default: any).",
)
@click.option("--tag", "tags", multiple=True, help="Tag every item must carry (repeatable).")
@click.option("--eval-fraction", default=0.1, show_default=True, type=float)
@click.option("--seed", default=13, show_default=True, type=click.IntRange(0, 2**31 - 1))
@click.option("--license", "license_", default="", help="License named in the dataset card.")
@click.option(
    "--queue-only",
    is_flag=True,
    help="Queue the freeze for the server's background tasks instead of running it here.",
)
@actor_option
def freeze(
    project_ref,
    name,
    statuses,
    kinds,
    domains,
    languages,
    origins,
    tags,
    eval_fraction,
    seed,
    license_,
    queue_only,
    actor_email,
) -> None:
    """Freeze PROJECT's matching items into a new dataset version (a background task, run here
    with a progress bar unless --queue-only) and print its id."""
    from app.cli.tasks import run_here
    from app.datasets import task
    from app.datasets.versions import VersionFilter

    f = VersionFilter(
        statuses=list(statuses) or ["approved"],
        kinds=list(kinds),
        domains=list(domains),
        languages=list(languages),
        origins=list(origins),
        tags=list(tags),
    )
    with unit_of_work() as session:
        project = project_of(session, project_ref)
        queued = task.start(
            session=session,
            project=project,
            name=name,
            f=f,
            actor=actor_of(session, actor_email),
            seed=seed,
            eval_fraction=eval_fraction,
            license=license_,
        )
        task_id = queued.id
    if queue_only:
        click.echo(f"queued the freeze as background task {task_id}")
        return
    outcome = run_here(task_id)
    if outcome["state"] != "done":
        click.echo(f"error: {outcome['error'] or outcome['state']}", err=True)
        sys.exit(1)
    result = outcome["result"]
    click.echo(
        f"froze dataset version {result['version_id']} {result['name']}: {result['items']} items"
    )
