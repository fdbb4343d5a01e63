"""All tables; importing this module registers them on ``Base.metadata``."""

from app.models.accounts import ApiToken, LoginFailure, Role, TokenScope, User, WebSession
from app.models.audit import AuditEvent
from app.models.base import Base
from app.models.content import Item, ItemRevision, Project

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Item",
    "ItemRevision",
    "LoginFailure",
    "Project",
    "Role",
    "TokenScope",
    "User",
    "WebSession",
]
