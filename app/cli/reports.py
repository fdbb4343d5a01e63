"""`studio audit`, `studio stats`, `studio agreement`, `studio duplicates` and `studio balance`:
the audit trail and a project's dashboards as text (or JSON), read through the services of
their pages."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from app.cli.common import unit_of_work
from app.cli.lookup import emit_json, excerpt, json_option, number, project_of, table, when


def _day(value: str | None, hint: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint=hint) from None


@click.command("audit")
@click.option("--action", default="", help="Only this action, e.g. job.launched.")
@click.option("--actor", default="", metavar="EMAIL", help="Only what this person did.")
@click.option("--entity-type", default="", help="Only events about this kind of thing.")
@click.option("--entity-id", default="", help="With --entity-type: only this one.")
@click.option("--from", "date_from", default=None, metavar="YYYY-MM-DD")
@click.option("--to", "date_to", default=None, metavar="YYYY-MM-DD")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def audit(action, actor, entity_type, entity_id, date_from, date_to, limit, as_json) -> None:
    """The audit trail, newest first."""
    from app.audit import service
    from app.audit.service import AuditFilter

    f = AuditFilter(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        date_from=_day(date_from, "--from"),
        date_to=_day(date_to, "--to"),
    )
    with unit_of_work() as session:
        page = service.page(session=session, f=f, size=limit)
        events = [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor_label,
                "action": e.action,
                "entity_type": e.entity_type,
                "entity_id": e.entity_id,
                "before": e.before,
                "after": e.after,
            }
            for e in page.events
        ]
    if as_json:
        emit_json({"events": events, "more": page.next_before is not None})
        return
    if not events:
        click.echo("no matching events")
        return
    rows = [["ID", "AT", "ACTOR", "ACTION", "ENTITY"]]
    rows += [
        [
            str(e["id"]),
            when(e["at"]),
            e["actor"],
            e["action"],
            f"{e['entity_type']} {e['entity_id'] or ''}".strip(),
        ]
        for e in events
    ]
    table(rows)
    if page.next_before is not None:
        click.echo(f"(older events left out; raise --limit above {limit})")


@click.command("stats")
@click.argument("project_ref", metavar="PROJECT")
@json_option
def stats(project_ref: str, as_json: bool) -> None:
    """How work flows through PROJECT: items by status, the last 30 days, annotators,
    reviewers and the content's figures."""
    from app.datasets import statistics
    from app.stats import service

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        flow = service.throughput(session=session, project_id=project.id)
        data = {
            "project": {"id": project.id, "name": project.name},
            "by_status": service.by_status(session=session, project_id=project.id),
            "last_30_days": {k: sum(v) for k, v in flow.items() if k != "days"},
            "throughput": flow,
            "annotators": [
                {
                    "email": a.email,
                    "written": a.written,
                    "submitted": a.submitted,
                    "decided": a.decided,
                    "approved": a.approved,
                    "approval_rate": a.approval_rate,
                    "median_hours_to_decision": a.median_hours,
                    "reasons": dict(a.reasons),
                }
                for a in service.annotators(session=session, project_id=project.id)
            ],
            "reviewers": [
                {
                    "email": r.email,
                    "decisions": dict(r.decisions),
                    "shared": r.shared,
                    "agreement": r.agreement,
                }
                for r in service.reviewers(session=session, project_id=project.id)
            ],
            "content": statistics.project_stats(session, project.id),
        }
    if as_json:
        emit_json(data)
        return
    click.echo(f"{project.name}")
    by_status = data["by_status"]
    click.echo("items      " + (", ".join(f"{k} {n}" for k, n in by_status.items()) or "none"))
    last = data["last_30_days"]
    click.echo(
        f"30 days    {last['created']} created, {last['decided']} decided, "
        f"{last['approved']} approved"
    )
    for name in ("kind", "domain", "language"):
        counts = data["content"]["counts"].get(name) or {}
        if counts:
            click.echo(f"{name:<10} " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    if data["annotators"]:
        click.echo("annotators")
        rows = [["  EMAIL", "WRITTEN", "SUBMITTED", "DECIDED", "APPROVED", "MEDIAN HOURS"]]
        rows += [
            [
                f"  {a['email']}",
                str(a["written"]),
                str(a["submitted"]),
                str(a["decided"]),
                _share(a["approval_rate"]),
                number(a["median_hours_to_decision"], 1),
            ]
            for a in data["annotators"]
        ]
        table(rows)
    if data["reviewers"]:
        click.echo("reviewers")
        rows = [["  EMAIL", "DECISIONS", "AGREEMENT"]]
        rows += [
            [
                f"  {r['email']}",
                ", ".join(f"{k} {n}" for k, n in r["decisions"].items()),
                f"{_share(r['agreement'])} of {r['shared']} shared",
            ]
            for r in data["reviewers"]
        ]
        table(rows)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@click.command("agreement")
@click.argument("project_ref", metavar="PROJECT")
@json_option
def agreement(project_ref: str, as_json: bool) -> None:
    """Agreement between PROJECT's labelers: Krippendorff's alpha per field and Cohen's kappa
    per pair of annotators."""
    from app.labeling import service

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        results, summary = service.project_agreement(session=session, project=project)
    fields: list[dict[str, Any]] = [
        {
            "field": r.field,
            "level": r.level,
            "alpha": r.alpha.alpha,
            "alpha_reason": r.alpha.reason,
            "units": r.alpha.n_units,
            "pairable_values": r.alpha.n_pairable,
            "pairs": [
                {
                    "a": p.annotator_a,
                    "b": p.annotator_b,
                    "kappa": p.kappa,
                    "reason": p.result.reason,
                    "shared_items": p.n,
                    "only_a": p.only_a,
                    "only_b": p.only_b,
                }
                for p in r.pairs
            ],
        }
        for r in results
    ]
    if as_json:
        emit_json(
            {"project": {"id": project.id, "name": project.name}, **summary, "fields": fields}
        )
        return
    click.echo(
        f"{project.name}: {summary['labels']} labels by {summary['annotators']} annotators "
        f"on {summary['items']} items"
    )
    rows = [["FIELD", "LEVEL", "ALPHA", "UNITS"]]
    rows += [
        [
            f["field"],
            f["level"],
            number(f["alpha"]) if f["alpha"] is not None else f"- ({f['alpha_reason']})",
            str(f["units"]),
        ]
        for f in fields
    ]
    table(rows)
    pairs = [(f["field"], p) for f in fields for p in f["pairs"]]
    if pairs:
        click.echo("pairs")
        lines = [["  FIELD", "ANNOTATORS", "KAPPA", "SHARED ITEMS"]]
        lines += [
            [
                f"  {name}",
                f"{p['a']} / {p['b']}",
                number(p["kappa"]) if p["kappa"] is not None else f"- ({p['reason']})",
                str(p["shared_items"]),
            ]
            for name, p in pairs
        ]
        table(lines)


@click.command("duplicates")
@click.argument("project_ref", metavar="PROJECT")
@json_option
def duplicates(project_ref: str, as_json: bool) -> None:
    """PROJECT's exact and near-duplicate clusters (rejected items left out)."""
    from app.datasets import duplicates as found

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        clusters = [
            {
                "kind": c.kind,
                "similarity": c.similarity,
                "items": [
                    {"id": i.id, "status": i.status, "instruction": i.instruction} for i in c.items
                ],
            }
            for c in [
                *found.exact_clusters(session, project.id),
                *found.near_clusters(session, project.id),
            ]
        ]
    if as_json:
        emit_json({"project": {"id": project.id, "name": project.name}, "clusters": clusters})
        return
    if not clusters:
        click.echo(f"{project.name} has no duplicates")
        return
    for c in clusters:
        ids = ", ".join(f"{i['id']} ({i['status']})" for i in c["items"])
        click.echo(f"{c['kind']} {c['similarity']:.2f}: items {ids}")
        click.echo(f"  {excerpt(c['items'][0]['instruction'], 100)}")


@click.command("balance")
@click.argument("project_ref", metavar="PROJECT", required=False)
@click.option("--version", "version_id", type=int, help="A dataset version's pinned items.")
@click.option(
    "--items",
    "scope",
    type=click.Choice(["approved", "not_rejected"]),
    default="approved",
    show_default=True,
    help="A project's items counted: approved, or every item but the rejected ones.",
)
@click.option("--min-share", type=float, default=None, help="Thin below this share (0.05).")
@click.option("--max-share", type=float, default=None, help="Dominant above this share (0.5).")
@json_option
def balance(project_ref, version_id, scope, min_share, max_share, as_json) -> None:
    """The balance of PROJECT's items, or of a dataset version's (--version): shares by kind,
    domain, language, annotator, provenance and difficulty, their evenness, and warnings."""
    from app.datasets import versions
    from app.stats import balance_queries
    from app.stats.balance import Thresholds
    from app.stats.balance_schemas import BalanceOut

    if (project_ref is None) == (version_id is None):
        raise click.UsageError("name a PROJECT or a --version, not both")
    with unit_of_work() as session:
        thresholds = Thresholds.of(min_share, max_share)
        if version_id is not None:
            version = versions.get_version(session=session, version_id=version_id)
            report = balance_queries.version_report(
                session=session, version=version, thresholds=thresholds
            )
            out = BalanceOut.of(report, _links(version.project_id), version_id=version.id)
        else:
            project = project_of(session, project_ref)
            report = balance_queries.project_report(
                session=session, project_id=project.id, thresholds=thresholds, scope=scope
            )
            status = "approved" if scope == "approved" else None
            out = BalanceOut.of(report, _links(project.id, status), scope=scope)
    if as_json:
        emit_json(out.model_dump(mode="json"))
        return
    _print_balance(out)


def _links(project_id: int, status: str | None = None):
    """Links as the server builds them, for an operator who may assign work."""
    from starlette.routing import Router

    from app.main import ROUTERS
    from app.stats.balance_view import BalanceLinks

    routes = Router(routes=[route for router in ROUTERS for route in router.routes])
    return BalanceLinks(routes.url_path_for, project_id, status=status, may_assign=True)


def _print_balance(out) -> None:
    where = f"version {out.version_id}" if out.version_id else f"project {out.project_id}"
    click.echo(
        f"{where}: {out.total} items ({out.scope or 'pinned'}); thin under {out.min_share:g}, "
        f"dominant over {out.max_share:g}"
    )
    for w in out.warnings:
        click.echo(f"warning    {w.message} -> {w.action.label}: {w.action.href}")
    for d in out.dimensions:
        evenness = "-" if d.entropy is None else f"{d.entropy:.3f}"
        click.echo(f"{d.name} (evenness {evenness}{', one group only' if d.one_group else ''})")
        rows = [[f"  {g.email or g.label}", str(g.count), f"{g.share:.1%}"] for g in d.groups]
        table(rows)
