"""What loading the demo did, as the CLI prints it."""

from __future__ import annotations

from dataclasses import dataclass, field

# Documented in the README and printed by the loader: every demo account uses it.
DEMO_PASSWORD = "demo-password"
FIRST_VERSION = "Demo v1"


@dataclass(frozen=True)
class DemoCredential:
    email: str
    role: str
    language: str
    # False when the account existed before: its password is whatever it was.
    created: bool


@dataclass
class DemoSummary:
    loaded: bool
    project_name: str
    project_id: int | None = None
    users_created: list[str] = field(default_factory=list)
    users_existing: list[str] = field(default_factory=list)
    items_by_kind: dict[str, int] = field(default_factory=dict)
    items_by_language: dict[str, int] = field(default_factory=dict)
    items_by_status: dict[str, int] = field(default_factory=dict)
    item_ids: dict[str, int] = field(default_factory=dict)
    version_id: int | None = None  # the first dataset version, frozen from the approved items
    job_id: int | None = None  # the short tiny fine-tune queued on it (app.demo.evaluation)
    second_project_id: int | None = None
    assignments: int = 0
    members: dict[str, list[str]] = field(default_factory=dict)  # project name → "email (role)"
    credentials: list[DemoCredential] = field(default_factory=list)
    password: str = DEMO_PASSWORD

    @property
    def items(self) -> int:
        return sum(self.items_by_kind.values())

    def lines(self) -> list[str]:
        """What the CLI prints."""
        if not self.loaded:
            return [f"The demo project {self.project_name!r} already exists; nothing was loaded."]

        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{name} {count}" for name, count in sorted(values.items()))

        lines = [
            f"Loaded the demo project {self.project_name!r} with {self.items} items.",
            f"  by kind: {counts(self.items_by_kind)}",
            f"  by language: {counts(self.items_by_language)}",
            f"  by status: {counts(self.items_by_status)}",
            "Demo accounts:",
        ]
        for cred in self.credentials:
            password = self.password if cred.created else "(existing account, password unchanged)"
            lines.append(f"  {cred.email:<24} {cred.role:<10} {password}")
        if self.assignments:
            lines.append(f"{self.assignments} assignments wait on the members' home pages.")
        for name, people in self.members.items():
            lines.append(f"Members of {name!r}: {', '.join(people)} (admins manage every project).")
        if self.version_id is not None:
            lines.append(
                f"The approved items are frozen as dataset version {FIRST_VERSION!r}: as an"
                f" admin or the project's manager, open /jobs/new?version_id={self.version_id}"
                " to fine-tune the tiny model on it."
            )
        if self.job_id is not None:
            lines.append(
                f"A tiny fine-tune is queued on it (job {self.job_id}); its outputs become a demo"
                " evaluation round when it finishes (a worker runs it: `studio run` starts one)."
            )
        return lines
