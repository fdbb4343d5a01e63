"""`studio jobs …`: launch, list, show, cancel and retry fine-tune jobs through the same
services as the job pages; watching one and reading its results live beside this module."""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli import generation, job_results, job_watch
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
from app.config import get_settings

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@click.group()
def jobs() -> None:
    """Fine-tune and generation jobs: launch, list, watch, cancel, retry and their results."""


jobs.add_command(generation.generate)
jobs.add_command(generation.try_model)


def parse_params(base_model: str, pairs: tuple[str, ...], preset: str | None = None):
    """JobParams from the base model's preset (as the launch form starts) and the objective's
    ``preset`` (``dpo-lora``), then each KEY=VALUE: the value is read as JSON where it parses
    (numbers, true, null, lists), else taken as text; ``generation.max_new_tokens=64`` sets a
    nested field."""
    from pydantic import ValidationError

    from app.core.protocol import JobParams
    from app.jobs import forms

    values: dict[str, Any] = json.loads(json.dumps(forms.preset_values(base_model, preset)))
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        *parents, last = key.strip().split(".")
        target = values
        for name in parents:
            target = target.setdefault(name, {})
            if not isinstance(target, dict):
                raise click.BadParameter(f"{name} has no fields", param_hint="--param")
        target[last] = value
    try:
        return JobParams(**values)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors()
        )
        raise click.BadParameter(problems, param_hint="--param") from None


@jobs.command("launch")
@click.argument("version_id", metavar="VERSION", type=int)
@click.option(
    "--base-model",
    default=None,
    help="tiny, org/name or a path [default: tiny; with --start-from, that job's base model].",
)
@click.option(
    "--param", "pairs", multiple=True, metavar="KEY=VALUE", help="A JobParams field (repeatable)."
)
@click.option(
    "--preset",
    type=click.Choice(["dpo-lora"]),
    default=None,
    help="Objective preset on top of the base model's: dpo-lora is DPO on a LoRA adapter with "
    "a tenth of the learning rate.",
)
@click.option(
    "--start-from",
    "start_job_id",
    type=click.IntRange(1),
    default=None,
    metavar="JOB",
    help="Continue from this succeeded job's tuned model (e.g. SFT, then DPO on its model).",
)
@actor_option
def launch(
    version_id: int,
    base_model: str | None,
    pairs: tuple[str, ...],
    preset: str | None,
    start_job_id: int | None,
    actor_email,
) -> None:
    """Queue a job training on dataset version VERSION; a trainer worker claims it. DPO:
    ``--param objective=dpo`` (with ``dpo_beta``, ``dpo_label_smoothing``) or ``--preset
    dpo-lora``."""
    from app.jobs import service

    settings = get_settings()
    with unit_of_work() as session:
        if base_model is None and start_job_id is not None:
            parent = service.find_job(session=session, job_id=start_job_id)
            preset_of = parent.base_model if parent else "tiny"
        else:
            preset_of = (base_model or "tiny").strip()
        params = parse_params(preset_of, pairs, preset)
        job = service.launch(
            session=session,
            version_id=version_id,
            base_model=base_model if start_job_id else (base_model or "tiny"),
            params=params,
            actor=actor_of(session, actor_email),
            start_job_id=start_job_id,
            artifacts_root=settings.resolved_artifacts_dir,
            model_roots=settings.model_roots,
        )
        objective = job.params.get("objective", "sft").upper()
        start = f", continuing from job {job.start_job_id}" if job.start_job_id else ""
        click.echo(
            f"queued job {job.id} on dataset version {version_id} ({job.base_model}, "
            f"{objective}{start})"
        )


def _row(job, version_names: dict[int, str], project_names: dict[int, str]) -> dict[str, Any]:
    from app.jobs import results

    return {
        "id": job.id,
        "kind": job.kind,
        "task": (job.generation or {}).get("task"),
        "status": job.status,
        "project_id": job.project_id,
        "project": project_names.get(job.project_id),
        "dataset_version_id": job.dataset_version_id,
        "dataset_version": version_names.get(job.dataset_version_id),
        "base_model": job.base_model,
        "objective": job.params.get("objective") or "sft",
        "start_job_id": job.start_job_id,
        "step": job.step,
        "total_steps": job.total_steps,
        "headline": results.headline(job),
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


@jobs.command("list")
@click.option("--project", "project_ref", default=None, help="Project id or name.")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def list_jobs(project_ref, status, limit, as_json) -> None:
    """The newest jobs with their status, data, base model and main figures."""
    from app.jobs import service
    from app.projects import service as projects

    with unit_of_work() as session:
        project_id = project_of(session, project_ref).id if project_ref else None
        found = service.list_jobs(
            session=session, project_id=project_id, status=status, limit=limit
        )
        versions = service.version_names(session=session, ids={j.dataset_version_id for j in found})
        names = {p.id: p.name for p in projects.list_projects(session=session)}
        rows = [_row(j, versions, names) for j in found]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no jobs")
        return
    lines = [["ID", "STATUS", "PROJECT", "VERSION", "BASE MODEL", "OBJECTIVE", "STEP",
              "EVAL LOSS", "TUNED F1"]]  # fmt: skip
    for r in rows:
        lines.append(
            [
                str(r["id"]),
                r["status"],
                r["project"] or "-",
                f"{r['dataset_version_id']} {r['dataset_version'] or ''}".strip(),
                r["base_model"],
                r["objective"].upper()
                + (f" from {r['start_job_id']}" if r["start_job_id"] else ""),
                _steps(r),
                number(r["headline"]["eval_loss"]),
                number(r["headline"]["tuned_f1"]),
            ]
        )
    table(lines)


def _steps(row: dict[str, Any]) -> str:
    """Steps done of the total; a job that succeeded did them all (heartbeats only sample
    the step, so the last one reported may lag behind)."""
    total = row["total_steps"]
    done = total if row["status"] == "succeeded" and total else row["step"]
    return f"{done}/{total or '?'}"


@jobs.command("show")
@click.argument("job_id", metavar="JOB", type=int)
@json_option
def show(job_id: int, as_json: bool) -> None:
    """One job: status, progress, parameters, figures and the last lines of its log."""
    from app.jobs import live, service

    with unit_of_work() as session:
        job = service.get_job(session=session, job_id=job_id)
        if job.kind == "generate":
            generation.show(session, job, as_json=as_json)
            return
        seen = live.context(session, job)
        detail = {
            "id": job.id,
            "status": job.status,
            "project_id": job.project_id,
            "project": seen["project"].name,
            "dataset_version_id": job.dataset_version_id,
            "dataset_version": seen["version"].name,
            "base_model": job.base_model,
            "objective": job.params.get("objective") or "sft",
            "start_job_id": job.start_job_id,
            "continued_by": seen["continued_by"],
            "params": job.params,
            "worker": job.worker,
            "attempts": job.attempts,
            "cancel_requested": job.cancel_requested,
            "progress": seen["progress"],
            "epoch": seen["epoch"],
            "train_loss": seen["train_loss"],
            "best_eval_loss": seen["best_eval_loss"],
            "tokens_per_s": seen["tokens_per_s"],
            "metrics": job.metrics,
            "headline": seen["headline"],
            "preference_now": seen["preference_now"],
            "error": job.error,
            "parent_id": job.parent_id,
            "retries": seen["children"],
            "artifacts": job.artifacts,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "log_tail": seen["logs"],
        }
    if as_json:
        emit_json(detail)
        return
    progress = detail["progress"]
    click.echo(f"job {detail['id']}: {detail['status']}")
    click.echo(f"project    {detail['project']}")
    click.echo(f"data       version {detail['dataset_version_id']} {detail['dataset_version']}")
    click.echo(f"base model {detail['base_model']}")
    click.echo(f"objective  {detail['objective'].upper()}")
    if detail["start_job_id"]:
        click.echo(f"starts from job {detail['start_job_id']}'s model")
    if detail["continued_by"]:
        click.echo("continued by " + ", ".join(f"job {i}" for i in detail["continued_by"]))
    click.echo(
        f"progress   step {progress['step']}/{progress['total'] or '?'}, "
        f"epoch {number(detail['epoch'], 2)}, train loss {number(detail['train_loss'])}, "
        f"best eval loss {number(detail['best_eval_loss'])}"
    )
    now = detail["preference_now"]
    if now:
        click.echo(
            f"rewards    accuracy {number(now['train_reward_accuracy'])} "
            f"(eval {number(now['eval_reward_accuracy'])}), "
            f"margin {number(now['train_reward_margin'])} "
            f"(eval {number(now['eval_reward_margin'])})"
        )
    headline = detail["headline"]
    click.echo(
        f"results    eval loss {number(headline['eval_loss'])}, "
        f"perplexity {number(headline['perplexity'])}, "
        f"tuned F1 {number(headline['tuned_f1'])}, "
        f"tuned ROUGE-L {number(headline['tuned_rouge_l'])}"
    )
    click.echo(
        f"times      created {when(job.created_at)}, started {when(job.started_at)}, "
        f"finished {when(job.finished_at)}"
    )
    click.echo(f"attempts   {detail['attempts']}, worker {detail['worker'] or '-'}")
    if detail["parent_id"]:
        click.echo(f"retry of   job {detail['parent_id']}")
    if detail["retries"]:
        click.echo("retried as " + ", ".join(f"job {i}" for i in detail["retries"]))
    click.echo("params     " + json.dumps(detail["params"], sort_keys=True))
    if detail["error"]:
        click.echo(f"error      {detail['error']}")
    for line in detail["log_tail"][-10:]:
        click.echo(f"log        {excerpt(line, 200)}")


@jobs.command("cancel")
@click.argument("job_id", metavar="JOB", type=int)
@actor_option
def cancel(job_id: int, actor_email) -> None:
    """Cancel a queued job, or ask the worker of a running one to stop."""
    from app.jobs import service

    with unit_of_work() as session:
        job = service.cancel(session=session, job_id=job_id, actor=actor_of(session, actor_email))
        if job.status == "cancelled":
            click.echo(f"job {job.id} cancelled")
        else:
            click.echo(f"job {job.id}: its worker was asked to stop")


@jobs.command("retry")
@click.argument("job_id", metavar="JOB", type=int)
@actor_option
def retry(job_id: int, actor_email) -> None:
    """A new job with a finished job's data and parameters, linked to it."""
    from app.jobs import service

    with unit_of_work() as session:
        job = service.retry(
            session=session,
            job_id=job_id,
            actor=actor_of(session, actor_email),
            model_roots=get_settings().model_roots,
            artifacts_root=get_settings().resolved_artifacts_dir,
        )
        click.echo(f"queued job {job.id} as a retry of job {job_id}")


for command in (
    job_watch.watch,
    job_results.show_results,
    job_results.predictions,
    job_results.show_datamap,
    job_results.send_back,
):
    jobs.add_command(command)
