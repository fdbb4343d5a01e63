"""`studio rounds …`: human evaluation rounds through the same services as the pages and the
API: list, create, show, read results, close, export judgments and the project leaderboard.

The command runs as an operator with the database in hand, so it shows systems and results
whatever a round's state; what it changes is recorded as done by ``--as`` (else the first
admin)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.cli.common import unit_of_work
from app.cli.lookup import (
    actor_of,
    actor_option,
    emit_json,
    json_option,
    number,
    project_of,
    table,
    when,
)


@click.group()
def rounds() -> None:
    """Human evaluation rounds: create, follow, close, results, export and leaderboard."""


def _systems(found) -> str:
    from app.evaluation.rounds import systems_of

    a, b = systems_of(found)
    return f"{a.label()} vs {b.label()}"


@rounds.command("list")
@click.argument("project_ref", metavar="PROJECT")
@json_option
def list_rounds(project_ref: str, as_json: bool) -> None:
    """The project's rounds, newest first, with their systems and progress."""
    from app.evaluation import rounds as service
    from app.evaluation.schemas import round_out

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        found = service.list_rounds(session, project_id=project.id)
        rows = [round_out(session, r, sees=True) for r in found]
        labels = {r.id: _systems(r) for r in found}
    if as_json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        click.echo("no rounds")
        return
    lines = [["ID", "STATUS", "MODE", "PROMPTS", "JUDGMENTS", "DONE", "SYSTEMS", "NAME"]]
    for r in rows:
        lines.append(
            [
                str(r.id),
                r.status,
                r.mode,
                str(r.prompts),
                str(r.judgments),
                f"{r.progress:.0%}",
                labels[r.id],
                r.name,
            ]
        )
    table(lines)


@rounds.command("create")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--name", required=True, help="The round's name.")
@click.option("--a", "system_a", required=True, metavar="SYSTEM", help="`reference` or `12:tuned`.")
@click.option("--b", "system_b", required=True, metavar="SYSTEM", help="As --a.")
@click.option("--mode", type=click.Choice(["pairwise", "rating"]), default="pairwise",
              show_default=True)  # fmt: skip
@click.option("--overlap", default=1, show_default=True, type=int, help="Judgments per prompt.")
@click.option("--judges", type=click.Choice(["reviewers", "named"]), default=None,
              help="Who judges (default: named with --judge, else every reviewer).")  # fmt: skip
@click.option("--judge", "judge_emails", multiple=True, metavar="EMAIL", help="A judge (repeat).")
@click.option("--kind", default="", help="Only prompts of this kind.")
@click.option("--language", default="", help="Only prompts in this language.")
@click.option("--domain", default="", help="Only prompts of this domain.")
@click.option("--limit", default=None, type=int, help="A seeded random sample of this size.")
@click.option("--seed", default=None, type=int, help="Seeds the sample and the judges' orders.")
@click.option("--dry-run", is_flag=True, help="Only say how many prompts the round would have.")
@actor_option
def create(project_ref: str, system_a: str, system_b: str, judges: str | None,
           judge_emails: tuple[str, ...], dry_run: bool, actor_email: str | None,
           **fields) -> None:  # fmt: skip
    """Create a round over the prompts both systems have outputs for."""
    from pydantic import ValidationError

    from app.evaluation import rounds as service
    from app.users import service as users

    with unit_of_work(write=not dry_run) as session:
        project = project_of(session, project_ref)
        judge_ids = [users.find_by_email(session=session, email=e).id for e in judge_emails]
        try:
            data = service.RoundInput(
                a=system_a,
                b=system_b,
                judges=judges or ("named" if judge_ids else "reviewers"),
                judge_ids=judge_ids,
                **fields,
            )
        except ValidationError as invalid:
            problems = "; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in invalid.errors())
            raise click.UsageError(problems) from None
        if dry_run:
            count = service.count_prompts(session, project=project, data=data)
            click.echo(f"{count} prompt{'' if count == 1 else 's'} in common")
            return
        found = service.create_round(
            session, project=project, data=data, actor=actor_of(session, actor_email)
        )
        count = service.prompt_count(session, found.id)
        click.echo(
            f"created round {found.id} “{found.name}”: {count} prompts, {_systems(found)}, "
            f"{found.mode}, overlap {found.overlap}"
        )


@rounds.command("show")
@click.argument("round_id", metavar="ROUND", type=int)
@json_option
def show(round_id: int, as_json: bool) -> None:
    """One round: its systems, settings and progress per judge."""
    from app.evaluation import rounds as service
    from app.evaluation.schemas import round_out

    with unit_of_work() as session:
        found = service.get_round(session, round_id=round_id)
        data = round_out(session, found, sees=True, detail=True)
        systems = _systems(found)
    if as_json:
        emit_json(data.model_dump(mode="json"))
        return
    click.echo(f"round {data.id} “{data.name}” ({data.status}), project {data.project_id}")
    click.echo(f"systems: A = {systems.replace(' vs ', ', B = ')}")
    judges = "every reviewer" if data.judges == "reviewers" else f"named {data.judge_ids}"
    click.echo(f"mode {data.mode}, overlap {data.overlap}, judges: {judges}, seed {data.seed}")
    if data.prompt_filter:
        click.echo("filter: " + ", ".join(f"{k} {v}" for k, v in data.prompt_filter.items()))
    click.echo(
        f"prompts {data.prompts}, judgments {data.judgments}, "
        f"{data.judged}/{data.wanted} wanted ({data.progress:.0%})"
    )
    click.echo(f"created {when(data.created_at)}, closed {when(data.closed_at)}")
    if data.per_judge:
        table([["  JUDGE", "JUDGMENTS"]] + [[f"  {c.email}", str(c.judgments)]
                                           for c in data.per_judge])  # fmt: skip


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else number(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _tally_row(name: str, t) -> list[str]:
    interval = "-" if t.interval is None else f"{t.interval[0]:.0%}–{t.interval[1]:.0%}"
    return [
        name,
        str(t.n),
        str(t.wins),
        str(t.ties),
        str(t.losses),
        _percent(t.win_rate),
        interval + (" (few)" if t.small and t.n else ""),
        _p(t.p_value),
    ]


@rounds.command("results")
@click.argument("round_id", metavar="ROUND", type=int)
@json_option
def show_results(round_id: int, as_json: bool) -> None:
    """System A's wins, ties and losses, win rate with a 95% interval and sign test p,
    overall and per kind, language and domain; judge agreement."""
    from app.evaluation import results
    from app.evaluation import rounds as service
    from app.evaluation.result_schemas import ResultsOut

    with unit_of_work() as session:
        found = service.get_round(session, round_id=round_id)
        data = ResultsOut.of(found, results.round_results(session, found=found))
    if as_json:
        emit_json(data.model_dump(mode="json"))
        return
    state = "final" if data.final else "open, not final"
    click.echo(f"round {data.round_id} ({state}): A = {data.a.key}, B = {data.b.key}")
    lines = [["GROUP", "N", "A WINS", "TIES", "B WINS", "A WIN RATE", "95% INTERVAL", "P"]]
    lines.append(_tally_row("overall", data.overall))
    for grouping in ("kind", "language", "domain"):
        for g in getattr(data, f"per_{grouping}"):
            lines.append(_tally_row(f"{grouping} {g.group or '(none)'}", g))
    table(lines)
    alpha = data.alpha
    told = number(alpha.value) if alpha.value is not None else f"- ({alpha.reason})"
    click.echo(f"judges {data.judges}; agreement (Krippendorff's alpha) {told}")
    if data.disagreements:
        positions = ", ".join(str(d.position) for d in data.disagreements)
        click.echo(f"judges disagreed most on the prompts at positions {positions}")
    if data.ratings:
        for side in ("a", "b"):
            r = getattr(data.ratings, side)
            click.echo(f"rating {side.upper()}: mean {number(r.mean, 2)} over {r.n}")
    click.echo(f"method: {data.method}")


@rounds.command("close")
@click.argument("round_id", metavar="ROUND", type=int)
@actor_option
def close(round_id: int, actor_email: str | None) -> None:
    """Close a round: judging stops and its results are final."""
    from app.evaluation import rounds as service

    with unit_of_work(write=True) as session:
        found = service.get_round(session, round_id=round_id)
        service.close_round(session, found=found, actor=actor_of(session, actor_email))
        count = service.judgment_count(session, found.id)
        click.echo(f"closed round {found.id} with {count} judgment{'' if count == 1 else 's'}")


@rounds.command("export")
@click.argument("round_id", metavar="ROUND", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the CSV here (default: standard output).")  # fmt: skip
def export_round(round_id: int, out: Path | None) -> None:
    """Every judgment of the round as CSV, in the systems' terms."""
    from app.evaluation import export
    from app.evaluation import rounds as service

    with unit_of_work() as session:
        found = service.get_round(session, round_id=round_id)
        if out is None:
            for line in export.judgments_csv(session, found):
                sys.stdout.write(line)
            return
        with out.open("w", encoding="utf-8", newline="") as sink:
            written = -1  # the header is no judgment
            for line in export.judgments_csv(session, found):
                sink.write(line)
                written += 1
    click.echo(f"wrote {written} judgment{'' if written == 1 else 's'} to {out}")


@rounds.command("leaderboard")
@click.argument("project_ref", metavar="PROJECT")
@json_option
def show_leaderboard(project_ref: str, as_json: bool) -> None:
    """The project's systems ranked by Bradley–Terry strength over closed pairwise rounds."""
    from app.evaluation import leaderboard
    from app.evaluation.result_schemas import LeaderboardOut

    with unit_of_work() as session:
        project = project_of(session, project_ref)
        data = LeaderboardOut.of(leaderboard.leaderboard(session, project_id=project.id))
    if as_json:
        emit_json(data.model_dump(mode="json"))
        return
    if not data.entries:
        click.echo("no closed pairwise round yet")
        return
    click.echo(f"{data.rounds} closed pairwise rounds, {data.judgments} judgments")
    if not data.connected:
        click.echo(
            f"note: the systems fall into {data.components} groups never compared with each "
            "other; ratings compare only within a group"
        )
    lines = [["RANK", "SYSTEM", "BASE MODEL", "RATING", "95% INTERVAL", "JUDGMENTS", "GROUP"]]
    for e in data.entries:
        low, high = e.interval
        lines.append(
            [
                str(e.rank),
                e.system,
                e.base_model or "-",
                number(e.rating, 0),
                f"{number(low, 0)}–{number(high, 0)}",
                str(e.judgments),
                str(e.component),
            ]
        )
    table(lines)
