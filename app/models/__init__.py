"""All tables; importing this module registers them on ``Base.metadata``."""

from app.models.accounts import ApiToken, LoginFailure, Role, TokenScope, User, WebSession
from app.models.audit import AuditEvent
from app.models.background import BackgroundTask
from app.models.base import Base
from app.models.content import (
    GuidelineVersion,
    Item,
    ItemRevision,
    Label,
    NearDupKey,
    Project,
    Review,
    SearchTerm,
)
from app.models.datasets import DatasetVersion, DatasetVersionItem, ImportJob
from app.models.evaluation import EvalJudgment, EvalRound, EvalRoundJudge, EvalRoundPrompt
from app.models.jobs import (
    EvalPrediction,
    GenerationInput,
    ItemDynamics,
    Job,
    JobLog,
    JobMetric,
    Preflight,
    Worker,
)
from app.models.members import Assignment, AssignmentTask, ProjectMember, ProjectRole

__all__ = [
    "ApiToken",
    "Assignment",
    "AssignmentTask",
    "AuditEvent",
    "BackgroundTask",
    "Base",
    "DatasetVersion",
    "DatasetVersionItem",
    "EvalJudgment",
    "EvalPrediction",
    "EvalRound",
    "EvalRoundJudge",
    "EvalRoundPrompt",
    "GenerationInput",
    "GuidelineVersion",
    "ImportJob",
    "Item",
    "ItemDynamics",
    "ItemRevision",
    "Job",
    "JobLog",
    "JobMetric",
    "Label",
    "LoginFailure",
    "NearDupKey",
    "Preflight",
    "Project",
    "ProjectMember",
    "ProjectRole",
    "Review",
    "Role",
    "SearchTerm",
    "TokenScope",
    "User",
    "WebSession",
    "Worker",
]
