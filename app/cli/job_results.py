"""`studio jobs results|predictions|datamap|send-back`: what a job learned, base against tuned
model, the items it found hard, and sending those back to review."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from app.cli.common import unit_of_work
from app.cli.lookup import actor_of, actor_option, emit_json, excerpt, json_option, number, table


def _rows(table_rows) -> list[dict[str, Any]]:
    return [
        {"metric": r.metric, "base": r.base, "tuned": r.tuned, "delta": r.delta} for r in table_rows
    ]


def _metric_lines(rows: list[dict[str, Any]], flagged: frozenset[str] = frozenset()) -> None:
    from app.jobs.results import SCORES

    lines = [["  METRIC", "BASE", "TUNED", "CHANGE", ""]]
    for r in rows:
        change = "-" if r["delta"] is None else f"{r['delta']:+.3f}"
        lines.append(
            [
                f"  {SCORES.get(r['metric'], r['metric'])}",
                number(r["base"]),
                number(r["tuned"]),
                change,
                "! fell while overall rose" if r["metric"] in flagged else "",
            ]
        )
    table(lines)


def _group_name(group_by: str, group: str) -> str:
    from app.jobs.groups import NO_DOMAIN, NO_DOMAIN_LABEL

    return NO_DOMAIN_LABEL if group_by == "domain" and group == NO_DOMAIN else group


@click.command("results")
@click.argument("job_id", metavar="JOB", type=int)
@json_option
def show_results(job_id: int, as_json: bool) -> None:
    """Base against tuned model on the eval items: metrics overall and per kind, language and
    domain, and the groups whose tuned score fell while it rose overall."""
    from app.jobs import groups, results, service

    with unit_of_work() as session:
        job = service.get_job(session=session, job_id=job_id)
        predictions = results.predictions_of(session, job.id)
        found = groups.breakdown(
            session, version_id=job.dataset_version_id, predictions=predictions
        )
        data = {
            "job_id": job.id,
            "status": job.status,
            "eval_items": len(predictions),
            "headline": results.headline(job),
            "overall": _rows(found.overall),
            **{
                f"per_{group_by}": {name: _rows(g.rows) for name, g in named.items()}
                for group_by, named in found.groups.items()
            },
            "group_items": {
                group_by: {name: g.size for name, g in named.items()}
                for group_by, named in found.groups.items()
            },
            "fell_while_overall_rose": [asdict(f) for f in found.fell],
            "objective": job.params.get("objective") or "sft",
            "start_job_id": job.start_job_id,
            "preference": results.preference(job),
        }
    if as_json:
        emit_json(data)
        return
    headline = data["headline"]
    click.echo(
        f"job {job_id} ({data['status']}): eval loss {number(headline['eval_loss'])}, "
        f"perplexity {number(headline['perplexity'])}"
    )
    if data["preference"]:
        click.echo(preference_line(data["preference"]))
    if not data["eval_items"]:
        click.echo("no eval predictions reported")
        return
    for f in found.fell:
        sentence = groups.FELL_SENTENCES[f.group_by] % {
            "metric": results.SCORES.get(f.metric, f.metric),
            "group": _group_name(f.group_by, f.group),
            "delta": f"{f.delta:+.3f}",
            "overall": f"{f.overall_delta:+.3f}",
        }
        click.echo(f"warning: {sentence}")
    click.echo(f"overall, {data['eval_items']} eval items")
    _metric_lines(data["overall"])
    for group_by, named in found.groups.items():
        for name, group in named.items():
            click.echo(f"{group_by} {_group_name(group_by, name)}, {group.size} eval items")
            _metric_lines(data[f"per_{group_by}"][name], found.flagged(group_by, name))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _signed(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def preference_line(f: dict[str, float | None]) -> str:
    """A DPO job's eval-pair figures in one sentence."""
    pairs = "" if f["pairs_eval"] is None else f" ({int(f['pairs_eval'])})"
    return (
        f"eval pairs{pairs}: the tuned model prefers the chosen response on "
        f"{_pct(f['tuned_pair_accuracy'])} (starting model: {_pct(f['start_pair_accuracy'])}), "
        f"mean log-prob margin {_signed(f['tuned_pair_margin'])} "
        f"(starting: {_signed(f['start_pair_margin'])}); reward accuracy "
        f"{_pct(f['eval_reward_accuracy'])}, margin {_signed(f['eval_reward_margin'], 2)}"
    )


@click.command("predictions")
@click.argument("job_id", metavar="JOB", type=int)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--show",
    type=click.Choice(["broken", "worse", "better", "wrong"]),
    default=None,
    help="Only the eval items where the tuned output breaks a constraint, is worse or better "
    "than the base (F1), or is not an exact match.",
)
@click.option(
    "--sort",
    type=click.Choice(["item", "tuned_f1", "delta_f1", "tuned_rouge_l"]),
    default="item",
    show_default=True,
)
@click.option("--kind", default="", help="Only eval items of this kind.")
@json_option
def predictions(job_id: int, limit: int, show, sort: str, kind: str, as_json: bool) -> None:
    """The eval items side by side: reference, base output and tuned output, with scores."""
    from app.jobs import results, service

    with unit_of_work() as session:
        job = service.get_job(session=session, job_id=job_id)
        found = results.predictions_of(session, job.id)
        chosen = results.select_predictions(found, show=show or "", kind=kind, sort=sort)
        rows = [
            {
                "item_id": p.item_id,
                "kind": p.kind,
                "reference": p.reference,
                "base_output": p.base_output,
                "tuned_output": p.tuned_output,
                "scores": p.scores,
            }
            for p in chosen[:limit]
        ]
    if as_json:
        emit_json({"job_id": job_id, "matching": len(chosen), "predictions": rows})
        return
    if not rows:
        click.echo("no eval predictions match")
        return
    for r in rows:
        s = r["scores"]
        click.echo(
            f"item {r['item_id']} ({r['kind']}): F1 {number(s.get('base_f1'))} -> "
            f"{number(s.get('tuned_f1'))}, ROUGE-L {number(s.get('base_rouge_l'))} -> "
            f"{number(s.get('tuned_rouge_l'))}"
        )
        click.echo(f"  reference  {excerpt(r['reference'], 100)}")
        click.echo(f"  base       {excerpt(r['base_output'], 100)}")
        click.echo(f"  tuned      {excerpt(r['tuned_output'], 100)}")
    if len(chosen) > limit:
        click.echo(f"({len(chosen) - limit} more; raise --limit)")


@click.command("datamap")
@click.argument("job_id", metavar="JOB", type=int)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def show_datamap(job_id: int, limit: int, as_json: bool) -> None:
    """Training dynamics: how many items are easy, ambiguous or hard, and the hardest ones."""
    from app.jobs import datamap, service

    with unit_of_work() as session:
        job = service.get_job(session=session, job_id=job_id)
        data = datamap.for_job(session, job.id)
    hardest = [asdict(point) for point in data.hardest(limit)]
    if as_json:
        emit_json(
            {
                "job_id": job_id,
                "counts": data.counts(),
                "confidence_cut": data.confidence_cut,
                "variability_cut": data.variability_cut,
                "hardest": hardest,
                "points": [asdict(point) for point in data.points],
            }
        )
        return
    if not data.points:
        click.echo(f"job {job_id} reported no training dynamics")
        return
    counts = data.counts()
    click.echo(", ".join(f"{region} {n}" for region, n in counts.items()))
    click.echo(
        f"hard: confidence at most {number(data.confidence_cut)}; "
        f"ambiguous: variability above {number(data.variability_cut)}"
    )
    lines = [["ITEM", "REGION", "CONFIDENCE", "VARIABILITY", "EPOCHS"]]
    lines += [
        [
            str(p["item_id"]),
            p["region"],
            number(p["confidence"]),
            number(p["variability"]),
            str(p["epochs"]),
        ]
        for p in hardest
    ]
    table(lines)


@click.command("send-back")
@click.argument("job_id", metavar="JOB", type=int)
@click.option("--item", "item_ids", multiple=True, type=int, required=True, help="Item id.")
@click.option("--comment", default="", help="Shown to reviewers (default: the job's number).")
@actor_option
def send_back(job_id: int, item_ids: tuple[int, ...], comment: str, actor_email) -> None:
    """Reopen approved items of the job's dataset version for review, flagged by training."""
    from app.jobs import feedback

    if len(comment) > 500:
        raise click.BadParameter("at most 500 characters", param_hint="--comment")
    with unit_of_work() as session:
        outcome = feedback.send_back(
            session=session,
            job_id=job_id,
            item_ids=list(item_ids),
            actor=actor_of(session, actor_email),
            comment=comment,
        )
        sent = len(outcome.reopened)
        click.echo(f"sent {sent} item{'' if sent == 1 else 's'} back to review")
        for item_id, status in outcome.skipped.items():
            click.echo(f"item {item_id} left as it is ({status})")
