"""What people do with background tasks: look at them, cancel them, retry them."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from app.background import queue
from app.background.context import Kind, TaskContext
from app.errors import Conflict, Forbidden, NotFound
from app.i18n import N_
from app.members.access import Membership
from app.models import BackgroundTask, ProjectRole, User


def seen_by(*, session: Session, task_id: int, member: Membership) -> BackgroundTask:
    """A task of the member's project. Reviewers and managers see every one; an annotator sees
    those they queued (a bulk action on items), another's being as good as missing."""
    task = queue.get(session, task_id)
    if not member.at_least(ProjectRole.reviewer) and task.created_by != member.user_id:
        raise NotFound(N_("No background task with id %(id)s."), id=task_id)
    return task


def check_may_cancel(task: BackgroundTask, member: Membership) -> None:
    """Managers cancel any task of their project; anyone else only a task they queued."""
    if not member.at_least(ProjectRole.manager) and task.created_by != member.user_id:
        raise Forbidden(N_("Only a manager or whoever started this task can cancel it."))


def cancel(
    *, session: Session, task: BackgroundTask, actor: User, kinds: Mapping[str, Kind]
) -> BackgroundTask:
    """A queued task is cancelled now, and what it was for is settled; a running one stops at
    its next progress report, and the process running it settles it."""
    if queue.request_cancel(session, task=task, actor=actor) and task.kind in kinds:
        kinds[task.kind].settle(session, TaskContext.of(task), "cancelled", "Cancelled.")
    return task


def retry(
    *, session: Session, task: BackgroundTask, actor: User, kinds: Mapping[str, Kind]
) -> BackgroundTask:
    """Queue a failed or cancelled task again, to resume from its checkpoint; its kind first
    puts back what ``settle`` marked (an import waits again), or refuses."""
    kind = kinds.get(task.kind)
    if kind is None or kind.reopen is None:
        raise Conflict(N_("This kind of task cannot be retried."))
    queue.requeue_for_retry(session, task=task, actor=actor)
    kind.reopen(session, TaskContext.of(task))
    return task
