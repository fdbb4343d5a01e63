"""Load the demo: four demo users, the bilingual demo project and a smaller second project with
other members, their items and the work handed out in them, through the services; and a short
tiny fine-tune queued on the first version, whose outputs become the demo's evaluation rounds
when a worker has run it (``app.demo.evaluation``).

The content lives beside this module as JSON written for this project: ``project.json`` (the
project, its guidelines, members and quotas, and the demo users), ``items_en.json`` /
``items_zh.json``, and ``support_project.json`` (the second project with its own items). Each item
is an :class:`~app.items.schemas.ItemDraft` plus four demo-only keys:

- ``key``: a stable name, kept in the item's provenance (a demo item, with this key) so later
  steps (and people) can find it again;
- ``status``: ``draft``, ``submitted`` or ``approved`` (submitted, then approved by a demo
  reviewer, so a new team can freeze a version and fine-tune at once while the flawed and a few
  clean items wait in the review queue);
- ``author`` (optional): a demo user's email; otherwise authors take turns over the annotators;
- ``demo_problem`` (optional): a deliberate flaw for reviewers to catch, as
  ``{"type", "description"}`` (and ``duplicate_of`` for a near-duplicate; ``turn``, counted
  from 1, for the assistant turn of a conversation where the flaw shows). It stays out of the
  database: reviewers are meant to find the flaw, not read about it.

A conversation is written as its ``turns`` (and an optional ``system`` prompt), without an
instruction or output: its first user turn and last assistant turn stand as those.

:func:`load_demo` flushes but does not commit; the caller's unit of work does.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assignments.service import assign
from app.auth.service import normalize_email
from app.core.provenance import Origin, Provenance
from app.datasets.freezing import create_version
from app.datasets.versions import VersionFilter
from app.demo.evaluation import queue_job
from app.demo.summary import DEMO_PASSWORD, FIRST_VERSION, DemoCredential, DemoSummary
from app.items.schemas import ItemDraft
from app.items.service import create_item
from app.members.service import add_member
from app.models import Project, Role, User
from app.models.base import utcnow
from app.projects.service import ProjectInput, create_project
from app.reviews.service import decide
from app.users.service import create_user

DEMO_DIR = Path(__file__).resolve().parent
PROJECT_FILE = DEMO_DIR / "project.json"
SECOND_PROJECT_FILE = DEMO_DIR / "support_project.json"
ITEM_FILES = (DEMO_DIR / "items_en.json", DEMO_DIR / "items_zh.json")

DEMO_KEYS = frozenset({"key", "status", "author", "demo_problem"})
DRAFT_KEYS = frozenset(ItemDraft.model_fields)
STATUSES = ("draft", "submitted", "approved")
PROBLEM_TYPES = (
    "breaks_constraint",
    "near_duplicate",
    "unclear_instruction",
    "factual_error",
    # A conversation's own flaws: an answer at odds with an earlier one, or with what the user
    # said before.
    "contradicts_itself",
    "ignores_context",
)


@dataclass(frozen=True)
class DemoContent:
    project: dict[str, Any]
    users: list[dict[str, Any]]
    items: list[dict[str, Any]]
    # The second project: its spec (with members) and its items.
    second_project: dict[str, Any] = field(default_factory=dict)
    second_items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def guidelines(self) -> str:
        return "\n".join(self.project["guidelines"]) + "\n"

    def item(self, key: str) -> dict[str, Any]:
        for item in self.items:
            if item["key"] == key:
                return item
        raise KeyError(key)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_item(item: dict[str, Any], keys: set[str], emails: set[str]) -> None:
    name = item.get("key") or "?"
    unknown = set(item) - DEMO_KEYS - DRAFT_KEYS
    if unknown:
        # ItemDraft would drop a misspelt field silently; the demo should fail loudly instead.
        raise ValueError(f"Demo item {name}: unknown fields {sorted(unknown)}.")
    if not item.get("key") or item["key"] in keys:
        raise ValueError(f"Demo item {name}: a missing or repeated key.")
    keys.add(item["key"])
    if item.get("status") not in STATUSES:
        raise ValueError(f"Demo item {name}: status must be one of {STATUSES}.")
    if "author" in item and item["author"] not in emails:
        raise ValueError(f"Demo item {name}: the author is not a demo user.")
    problem = item.get("demo_problem")
    if problem is not None and problem.get("type") not in PROBLEM_TYPES:
        raise ValueError(f"Demo item {name}: demo_problem.type must be one of {PROBLEM_TYPES}.")
    if problem is not None and "turn" in problem:
        turns = item.get("turns") or []
        number = problem["turn"]
        if not (isinstance(number, int) and 1 <= number <= len(turns)) or (
            turns[number - 1].get("role") != "assistant"
        ):
            raise ValueError(f"Demo item {name}: demo_problem.turn must name an assistant turn.")


@cache
def _load_content() -> DemoContent:
    data = _read(PROJECT_FILE)
    items = [item for path in ITEM_FILES for item in _read(path)]
    emails = {user["email"] for user in data["users"]}
    second = _read(SECOND_PROJECT_FILE)
    keys: set[str] = set()
    for item in [*items, *second["items"]]:
        _check_item(item, keys, emails)
    for spec, own in ((data["project"], items), (second["project"], second["items"])):
        if not set(spec["members"]) | set(spec.get("quotas", {})) <= emails:
            raise ValueError(f"Demo project {spec['name']}: a member is not a demo user.")
        own_keys = {item["key"] for item in own}
        for work in spec.get("assignments", []):
            if not set(work["to"]) <= set(spec["members"]) or not set(work["items"]) <= own_keys:
                raise ValueError(f"Demo project {spec['name']}: an assignment names a stranger.")
    return DemoContent(
        project=data["project"],
        users=data["users"],
        items=items,
        second_project=second["project"],
        second_items=second["items"],
    )


def load_content() -> DemoContent:
    """The demo content from the JSON files (read once), checked for stray fields."""
    return _load_content()


def item_draft(item: dict[str, Any]) -> ItemDraft:
    """The editor's view of a demo item: what ``create_item`` validates and stores."""
    return ItemDraft.model_validate({k: v for k, v in item.items() if k in DRAFT_KEYS})


def project_input(content: DemoContent, spec: dict[str, Any] | None = None) -> ProjectInput:
    """The project form's values for the main demo project, or for ``spec``."""
    guidelines = content.guidelines if spec is None else "\n".join(spec["guidelines"]) + "\n"
    spec = spec or content.project
    return ProjectInput(
        name=spec["name"],
        description=spec["description"],
        guidelines=guidelines,
        domains=list(spec["domains"]),
        tags=list(spec["tags"]),
        languages=list(spec["languages"]),
        approvals_needed=spec["approvals_needed"],
        labeling_overlap=spec["labeling_overlap"],
        blind_mode=spec["blind_mode"],
        drafts_shared=spec.get("drafts_shared", False),
    )


def _find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def _project_actor(session: Session, admin: User | None, demo_users: dict[str, User]) -> User:
    if admin is not None:
        return admin
    existing_admin = session.scalar(
        select(User)
        .where(User.role == Role.admin.value, User.is_active.is_(True))
        .order_by(User.id)
        .limit(1)
    )
    if existing_admin is not None:
        return existing_admin
    reviewers = [u for u in demo_users.values() if u.role == Role.reviewer.value]
    return reviewers[0] if reviewers else next(iter(demo_users.values()))


def load_demo(*, session: Session, admin: User | None) -> DemoSummary:
    """Create the demo users, project and items, unless the demo project already exists.

    Demo users whose email is taken are reused as they are. Items go through ``create_item``,
    so each one is validated, revisioned, indexed and audited like an annotator's.
    """
    content = load_content()
    spec = project_input(content)
    existing = session.scalar(select(Project).where(Project.name == spec.name.strip()))
    if existing is not None:
        return DemoSummary(loaded=False, project_name=existing.name, project_id=existing.id)

    summary = DemoSummary(loaded=True, project_name=spec.name)
    demo_users: dict[str, User] = {}
    for user_spec in content.users:
        user = _find_user(session, user_spec["email"])
        created = user is None
        if user is None:
            user = create_user(
                session=session,
                email=user_spec["email"],
                role=user_spec["role"],
                password=DEMO_PASSWORD,
                display_name=user_spec.get("display_name", ""),
                language=user_spec.get("language", "en"),
                actor=admin,
            )
            summary.users_created.append(user.email)
        else:
            summary.users_existing.append(user.email)
        demo_users[user_spec["email"]] = user
        summary.credentials.append(
            DemoCredential(
                email=user.email, role=user.role, language=user.language, created=created
            )
        )

    actor = _project_actor(session, admin, demo_users)
    project = create_project(session=session, data=spec, actor=actor)
    summary.project_id = project.id
    kinds: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    _add_members(session, project, content.project, demo_users, actor, summary)
    _add_items(
        session,
        project,
        content.items,
        content.project,
        demo_users,
        summary,
        counters=(kinds, languages, statuses),
    )
    summary.items_by_kind = dict(kinds)
    summary.items_by_language = dict(languages)
    summary.items_by_status = dict(statuses)
    if statuses["approved"]:
        version = create_version(
            session=session,
            project=project,
            name=FIRST_VERSION,
            f=VersionFilter(),
            actor=actor,
            eval_fraction=0.15,
        )
        summary.version_id = version.id
        # Its outputs become the demo's evaluation rounds, judged by the project's manager
        # (strictly) and reviewer (leniently): see app.demo.evaluation.
        members = content.project["members"]
        judges = [
            demo_users[e] for role in ("manager", "reviewer") for e in members if members[e] == role
        ]
        job = queue_job(session=session, version=version, actor=actor, judges=judges[:2])
        summary.job_id = job.id
    _assign(session, project, content.project, demo_users, actor, summary)
    second_spec = project_input(content, content.second_project)
    if session.scalar(select(Project.id).where(Project.name == second_spec.name)) is None:
        second = create_project(session=session, data=second_spec, actor=actor)
        summary.second_project_id = second.id
        _add_members(session, second, content.second_project, demo_users, actor, summary)
        _add_items(
            session, second, content.second_items, content.second_project, demo_users, summary
        )
        _assign(session, second, content.second_project, demo_users, actor, summary)
    return summary


def _add_members(session, project, spec, demo_users, actor, summary: DemoSummary) -> None:
    quotas = spec.get("quotas", {})
    for email, role in spec["members"].items():
        add_member(
            session=session,
            project=project,
            user=demo_users[email],
            role=role,
            quota=quotas.get(email),
            actor=actor,
        )
        summary.members.setdefault(project.name, []).append(f"{email} ({role})")


def _add_items(session, project, items, spec, demo_users, summary, counters=None) -> None:
    """Create the items, each as its author would, approved by a member who reviews; authors
    take turns over the project's annotators."""
    members = spec["members"]
    writers = [demo_users[e] for e, role in members.items() if role == "annotator"]
    reviewers = [demo_users[e] for e, role in members.items() if role != "annotator"]
    for index, item in enumerate(items):
        author = demo_users[item["author"]] if "author" in item else writers[index % len(writers)]
        row = create_item(
            session=session,
            project=project,
            draft=item_draft(item),
            author=author,
            submit=item["status"] in ("submitted", "approved"),
            provenance=Provenance(origin=Origin.demo, key=item["key"]),
        )
        if item["status"] == "approved":
            decide(
                session=session,
                item_id=row.id,
                reviewer=reviewers[index % len(reviewers)],
                decision="approve",
                version=row.version,
            )
        summary.item_ids[item["key"]] = row.id
        if counters is not None:
            kinds, languages, statuses = counters
            kinds[row.kind] += 1
            languages[row.language] += 1
            statuses[row.status] += 1


def _assign(session, project, spec, demo_users, actor, summary: DemoSummary) -> None:
    """Hand out the work the spec lists, due some days from today."""
    today = utcnow().date()
    for work in spec.get("assignments", []):
        assign(
            session=session,
            project_id=project.id,
            item_ids=[summary.item_ids[key] for key in work["items"]],
            task=work["task"],
            user_ids=[demo_users[email].id for email in work["to"]],
            due_date=today + timedelta(days=work["due_in_days"]),
            actor=actor,
        )
        summary.assignments += len(work["items"]) * len(work["to"])
