"""`studio jobs generate`: launch a generation job (draft outputs, augment, bootstrap) over a
project's items, through the same service as the launch form; `studio jobs watch` follows it
and `studio jobs show` gives its figures."""

from __future__ import annotations

import click

from app.cli.common import unit_of_work
from app.cli.lookup import actor_of, actor_option, project_of
from app.config import get_settings
from app.core.generation import TASKS


@click.command("generate")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--task", type=click.Choice(TASKS), required=True, help="What the model writes.")
@click.option("--base-model", default=None, help="tiny, org/name or an allowed path.")
@click.option(
    "--with-job",
    "start_job_id",
    type=click.IntRange(1),
    default=None,
    metavar="JOB",
    help="Generate with this succeeded fine-tune's tuned model instead of a base model.",
)
@click.option("--kind", default=None, help="Only items of this kind.")
@click.option("--status", default=None, help="Only items in this status.")
@click.option("--language", default=None, help="Only items in this language.")
@click.option("--domain", default=None, help="Only items of this domain.")
@click.option("--ids", default="", help="Only these item ids (comma-separated).")
@click.option(
    "--set",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A generation setting (max_new_tokens, temperature, top_p, seed, batch_size, answer, "
    "rounds, prompts_per_round, few_shot); repeatable.",
)
@actor_option
def generate(
    project_ref, task, base_model, start_job_id, kind, status, language, domain, ids, pairs,
    actor_email,
) -> None:  # fmt: skip
    """Queue a generation job over PROJECT's items (id or name); a trainer worker claims it.
    Everything it writes lands as drafts for people to review."""
    import json

    from pydantic import ValidationError

    from app.core.generation import GenerationSpec
    from app.items.repository import ItemFilter
    from app.jobs.generation import launch

    values: dict = {"task": task}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        try:
            values[key.strip()] = json.loads(raw)
        except ValueError:
            values[key.strip()] = raw
    try:
        spec = GenerationSpec(**values)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors()
        )
        raise click.BadParameter(problems, param_hint="--set") from None
    try:
        item_ids = tuple(int(i) for i in ids.split(",") if i.strip())
    except ValueError:
        raise click.BadParameter(
            "item ids are numbers, comma-separated", param_hint="--ids"
        ) from None
    settings = get_settings()
    with unit_of_work() as session:
        project = project_of(session, project_ref)
        f = ItemFilter(
            project_id=project.id, kind=kind, status=status, language=language, domain=domain,
            item_ids=item_ids,
        )  # fmt: skip
        job = launch.launch(
            session=session,
            project_id=project.id,
            spec=spec,
            base_model=None if start_job_id else (base_model or "tiny"),
            actor=actor_of(session, actor_email),
            item_filter=f,
            start_job_id=start_job_id,
            artifacts_root=settings.resolved_artifacts_dir,
            model_roots=settings.model_roots,
        )
        read = "approved tasks to learn from" if task == "bootstrap" else "items"
        click.echo(
            f"queued generation job {job.id} ({task} with {job.base_model}) reading "
            f"{launch.input_count(session, job)} {read}"
        )


def show(session, job, *, as_json: bool) -> None:
    """A generation job for `studio jobs show`: its task, progress and what it wrote."""
    from app.cli.lookup import emit_json, excerpt
    from app.jobs.generation import view

    seen = view.context(session, job)
    detail = {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "project_id": job.project_id,
        "project": seen["project"].name,
        "base_model": job.base_model,
        "start_job_id": job.start_job_id,
        "generation": seen["spec"].model_dump(),
        "progress": seen["progress"],
        "inputs": seen["inputs"],
        "metrics": job.metrics,
        "drafts": [item.id for item in seen["drafts"]],
        "error": job.error,
        "parent_id": job.parent_id,
        "retries": seen["children"],
        "log_tail": seen["logs"],
    }
    if as_json:
        emit_json(detail)
        return
    progress, metrics = detail["progress"], job.metrics or {}
    click.echo(f"job {job.id}: {job.status} (generation: {seen['spec'].task})")
    click.echo(f"project    {detail['project']}")
    model = f"job {job.start_job_id}'s tuned model" if job.start_job_id else job.base_model
    click.echo(f"model      {model}")
    click.echo(f"progress   {progress['step']}/{progress['total'] or '?'}")
    click.echo(f"written    {metrics.get('written', 0)}, skipped {metrics.get('skipped') or {}}")
    if seen["spec"].task == "bootstrap":
        click.echo(
            f"proposed   {metrics.get('proposed', 0)}, kept {metrics.get('kept', 0)}, "
            f"filtered {metrics.get('filtered') or {}}"
        )
    if job.error:
        click.echo(f"error      {job.error}")
    for line in detail["log_tail"][-10:]:
        click.echo(f"log        {excerpt(line, 200)}")


@click.command("try")
@click.argument("job_id", metavar="JOB", type=int)
@click.argument("prompt", required=False, default="")
@click.option(
    "--item", "item_id", type=click.IntRange(1), default=None, help="Or this item's prompt."
)
@click.option("--max-new-tokens", default=128, show_default=True, type=click.IntRange(1, 1024))
@click.option(
    "--wait",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds to wait for the answers (0: do not).",
)
@actor_option
def try_model(job_id, prompt, item_id, max_new_tokens, wait, actor_email) -> None:
    """Ask a succeeded fine-tune's tuned model and the model it started from the same PROMPT
    (a trainer worker answers, before any queued job) and print both answers."""
    import time

    from app.jobs.generation import trying
    from app.models import Job

    settings = get_settings()
    with unit_of_work() as session:
        found = trying.ask(
            session=session,
            job_id=job_id,
            actor=actor_of(session, actor_email),
            prompt=prompt,
            item_id=item_id,
            max_new_tokens=max_new_tokens,
            artifacts_root=settings.resolved_artifacts_dir,
        )
        try_id = found.id
    click.echo(f"queued try {try_id} of job {job_id}'s model")
    deadline = time.monotonic() + wait
    while wait > 0:
        with unit_of_work() as session:
            job = session.get(Job, try_id)
            if job.status in ("succeeded", "failed", "cancelled"):
                answers = (job.metrics or {}).get("answers") or {}
                if job.error:
                    raise click.ClickException(job.error)
                click.echo(f"starting model: {answers.get('base', '')}")
                click.echo(f"tuned model:    {answers.get('tuned', '')}")
                return
            waiting = trying.ahead(session, job)
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"no answer within {wait:g} s (jobs ahead: {waiting[0]}, running: {waiting[1]}); "
                f"see `studio jobs show {try_id}`"
            )
        time.sleep(0.5)
