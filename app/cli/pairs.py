"""`studio pairs …`: preference pairs through the same services as the pages and the API:
make draft pairs of a closed pairwise round's agreed verdicts (or count them first).

What it makes is authored and recorded as done by ``--as`` (else the first admin)."""

from __future__ import annotations

import click

from app.cli.common import unit_of_work
from app.cli.lookup import actor_of, actor_option, emit_json, json_option


@click.group()
def pairs() -> None:
    """Preference pairs: make them from an evaluation round's agreed verdicts."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@pairs.command("from-round")
@click.argument("round_id", metavar="ROUND", type=int)
@click.option("--rule", type=click.Choice(["unanimous", "majority"]), default="unanimous",
              show_default=True,
              help="unanimous: every judgment of a prompt names the winner; majority: more than "
                   "half do (ties and both-bad count as votes for neither).")  # fmt: skip
@click.option("--min-judgments", type=click.IntRange(1, 100), default=None,
              help="The fewest judgments a prompt needs (default: 2 when the round asked for two "
                   "or more per prompt, else 1).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only count the pairs that would be made.")
@click.option("--queue-only", is_flag=True,
              help="Queue the task for the server's background loops instead of running it "
                   "here.")  # fmt: skip
@actor_option
@json_option
def from_round(round_id: int, rule: str, min_judgments: int | None, dry_run: bool,
               queue_only: bool, actor_email: str | None, as_json: bool) -> None:  # fmt: skip
    """Make a draft pair of every prompt of a closed pairwise round whose judges agreed on a
    winner; prompts that already have a pair from the round are skipped. A background task,
    run here with a progress bar unless --queue-only. Exit 0 only when it ran to the end."""
    import sys

    from app.cli.tasks import run_here
    from app.evaluation import rounds
    from app.items.lengths import ContentLimits
    from app.pairs import from_round as service
    from app.pairs import task as pairs_task
    from app.pairs.schemas import PairsOut, PairsPreviewOut

    data = service.PairRule(rule=rule, min_judgments=min_judgments)
    with unit_of_work(write=not dry_run) as session:
        found = rounds.get_round(session, round_id=round_id)
        if dry_run:
            out = PairsPreviewOut.of(service.plan(session, found=found, data=data))
        else:
            task_id = pairs_task.start(
                session=session,
                found=found,
                data=data,
                actor=actor_of(session, actor_email),
                limits=ContentLimits.of(),
                operator=True,
            ).id
    if not dry_run:
        if queue_only:
            if as_json:
                emit_json({"task_id": task_id, "state": "queued"})
            else:
                click.echo(f"queued making pairs of round {round_id} as background task {task_id}")
            return
        outcome = run_here(task_id)
        if outcome["state"] != "done":
            click.echo(f"error: the task is {outcome['state']}: {outcome['error'] or ''}", err=True)
            sys.exit(1)
        out = PairsOut.of_result(outcome["result"])
    if as_json:
        emit_json(out.model_dump(mode="json"))
        return
    verb = "would make" if dry_run else "made"
    click.echo(
        f"round {round_id}: {verb} {_plural(out.pairs, 'pair')}"
        + ("" if dry_run else " as drafts")
        + f" ({out.rule}, at least {_plural(out.min_judgments, 'judgment')} a prompt)"
    )
    click.echo(f"{_plural(out.no_winner, 'prompt')} without an agreed winner")
    click.echo(f"{_plural(out.already, 'prompt')} already with a pair from this round")
    if out.identical:
        click.echo(f"{_plural(out.identical, 'prompt')} with the same text in both outputs")
    if isinstance(out, PairsOut) and out.unusable:
        click.echo(f"{_plural(out.unusable, 'prompt')} that could not be made into a pair")
