"""The import graph of ``app/``, read from the source: imports point down, never up.

Services, repositories and schemas of a domain import only ``app.core``, the shared plumbing
and the services of domains ranked below theirs. The HTTP surface of a domain (``routes.py``,
``api.py``) composes services, so it may import any domain's services, but never another
domain's surface. Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from app.paths import ROOT

APP = ROOT / "app"

# Shared plumbing every domain may use; it imports no domain (checked below).
PLUMBING = {
    "core", "config", "paths", "i18n", "errors", "db", "models", "bulk", "security",
    "markdown", "display", "tokenizer", "migrate", "web", "locking", "headers", "apidoc",
    "metrics", "logs",
}  # fmt: skip
# Domains from the bottom up: each may import those before it.
DOMAINS = [
    "audit", "tokens", "members", "auth", "users", "projects", "background", "items", "assignments",
    "revisions", "labeling", "reviews", "imports", "datasets", "jobs", "evaluation", "pairs",
    "stats", "ops", "demo",
]  # fmt: skip
# What assembles the application: free to import everything.
ASSEMBLY = {"main", "handlers", "cli", "bootstrap", "limits", "tasks", "serving"}
# Every surface needs the access checks: the dependency layer of ``auth`` is open to all of them.
OPEN_TO_SURFACES = {"app.auth.deps"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def graph() -> dict[str, set[str]]:
    """Module → the ``app`` modules it imports (``from app.x import y`` names ``app.x.y``
    when that is a module, else ``app.x``)."""
    modules = {_module_name(p): p for p in APP.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
        edges[name] = {t for t in targets if t.startswith("app.") and t != name}
    return edges


def domain(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def is_surface(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in ("routes", "api") or module.endswith("_routes")


def upward_imports() -> list[str]:
    problems = []
    for module, targets in sorted(graph().items()):
        home = domain(module) if module != "app" else "app"
        if home in ASSEMBLY or home == "app":
            continue
        for target in sorted(targets):
            there = domain(target)
            if there == home or there in PLUMBING and home not in PLUMBING:
                continue
            if home in PLUMBING:
                if there != "core" and not (home != "core" and there in PLUMBING):
                    problems.append(f"{module} -> {target} (plumbing imports no domain)")
                continue
            if there in ASSEMBLY:
                problems.append(f"{module} -> {target} (the assembly is above every domain)")
            elif is_surface(target):
                problems.append(f"{module} -> {target} (another domain's surface)")
            elif is_surface(module) and (target in OPEN_TO_SURFACES or there in DOMAINS):
                continue
            elif DOMAINS.index(there) > DOMAINS.index(home):
                problems.append(f"{module} -> {target} ({there} is above {home})")
    return problems


def test_every_package_of_app_is_placed():
    packages = {domain(m) for m in graph() if m != "app"}
    assert packages <= PLUMBING | set(DOMAINS) | ASSEMBLY, packages - (
        PLUMBING | set(DOMAINS) | ASSEMBLY
    )


def test_no_upward_imports():
    assert upward_imports() == []


def test_core_imports_nothing_else_from_app():
    outside = {
        f"{m} -> {t}" for m, ts in graph().items() if domain(m) == "core" for t in ts
        if domain(t) != "core"
    }  # fmt: skip
    assert outside == set()


@pytest.mark.parametrize(
    ("lower", "upper"), [("items", "reviews"), ("web", "datasets"), ("auth", "projects")]
)
def test_named_pairs_stay_apart(lower, upper):
    """Pairs that once imported upward, surfaces and lazy imports included."""
    found = [
        f"{m} -> {t}"
        for m, ts in graph().items()
        if m != "app" and domain(m) == lower
        for t in ts
        if domain(t) == upper
    ]
    assert found == []


def test_the_check_sees_an_upward_import():
    """The graph really is read from the source: a known downward import is in it."""
    assert "app.core.kinds" in graph()["app.items.service"]
    assert is_surface("app.items.routes") and not is_surface("app.items.service")
