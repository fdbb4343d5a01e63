"""Every registered route declares an access level, and each level is enforced.

Anonymous callers are sent to /login (pages) or get 401 (API); a role below the
route's level gets 403; worker tokens reach only worker routes. A project-scoped route is
walked with the real ids of one project's item, dataset version, job and import: its members
get what their project role allows, and people from another project get 404 (as for a
missing id), whatever their global role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from app.auth.deps import LEVELS
from app.core import protocol
from app.items import service as items
from app.items.schemas import ItemDraft
from app.jobs import service as jobs
from app.members.access import SCOPES
from app.models import BackgroundTask, EvalPrediction, ImportJob, ProjectRole, Role
from app.projects import service as projects
from app.projects.service import ProjectInput
from tests.eval_factories import unfinished_round
from tests.factories import join, make_token, make_user
from tests.helpers import login
from tests.job_factories import project_version


def access_level(route) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        level = getattr(dep.call, "access_level", None)
        if level:
            return level
        stack.extend(dep.dependencies)
    return None


def concrete_path(route) -> str:
    return re.sub(r"\{[^}]+\}", "999999", route.path)


def all_routes(app) -> list:
    """Every effective route, including those of included routers."""
    return list(iter_route_contexts(app.routes))


def api_routes(app) -> list:
    return [r for r in all_routes(app) if isinstance(r.original_route, APIRoute)]


def test_every_route_declares_a_level(app):
    missing = [f"{sorted(r.methods)} {r.path}" for r in api_routes(app) if not access_level(r)]
    assert not missing, f"routes without an access level: {missing}"
    others = [
        r.original_route for r in all_routes(app) if not isinstance(r.original_route, APIRoute)
    ]
    assert all(isinstance(r, Mount) and r.path == "/static" for r in others), others
    assert len(api_routes(app)) >= 20
    assert {access_level(r) for r in api_routes(app)} <= set(LEVELS)


def test_a_route_without_a_level_is_caught(app):
    def undeclared() -> dict:
        return {}

    app.add_api_route("/undeclared", undeclared)
    with pytest.raises(AssertionError, match="routes without an access level.*/undeclared"):
        test_every_route_declares_a_level(app)


@dataclass
class Walk:
    clients: dict[str, tuple[TestClient, dict[str, str]]]
    ids: dict[str, int]  # path parameter → the id of a real row of the walked project


# Caller → (global role, role in the walked project, or None for someone from another project).
PEOPLE_CALLERS = {
    "admin": ("admin", None),
    "annotator": ("annotator", "annotator"),
    # Global annotators: only the project role lifts them.
    "reviewer": ("annotator", "reviewer"),
    "manager": ("annotator", "manager"),
    # Members of another project only; the global reviewer sees no more than anyone.
    "outside-annotator": ("annotator", None),
    "outside-reviewer": ("reviewer", None),
    "outside-manager": ("annotator", None),
}
OUTSIDE_ROLES = {
    "outside-annotator": "annotator",
    "outside-reviewer": "reviewer",
    "outside-manager": "manager",
}
CALLERS = ["anonymous", *PEOPLE_CALLERS, "worker"]


@pytest.fixture
def walk(app, db_session, tmp_path):
    """One signed-in client per caller, a worker-token client and an anonymous one, and the
    ids of a project that has an approved item, a frozen version, a job and a finished
    import."""
    project, admin, version = project_version(db_session, name="Walked project")
    job = jobs.launch(
        session=db_session,
        version_id=version.id,
        base_model="tiny",
        params=protocol.JobParams(),
        actor=admin,
    )
    done = tmp_path / "done.jsonl"
    done.write_text('{"instruction": "Say hi.", "output": "Hi."}\n')
    upload = ImportJob(
        project_id=project.id,
        filename="done.jsonl",
        path=str(done),
        file_hash="0" * 64,
        size=1,
        container="jsonl",
        schema="alpaca",
        state="done",
    )
    db_session.add(upload)
    # A running background task the annotator started (a bulk action): reviewers and managers
    # see every task, an annotator those they started; managers and its starter stop it.
    task = BackgroundTask(kind="items.bulk", project_id=project.id, state="running", attempts=1)
    db_session.add(task)
    other = projects.create_project(
        session=db_session, data=ProjectInput(name="Another project"), actor=admin
    )
    clients: dict[str, tuple[TestClient, dict[str, str]]] = {}
    people = {}
    for caller, (global_role, project_role) in PEOPLE_CALLERS.items():
        user = people[caller] = make_user(db_session, role=global_role)
        if project_role:
            join(db_session, project, user, role=project_role)
        if caller in OUTSIDE_ROLES:
            join(db_session, other, user, role=OUTSIDE_ROLES[caller])
        client = TestClient(app, follow_redirects=False)
        csrf = login(client, user.email)
        clients[caller] = (client, {"X-CSRF-Token": csrf})
    token = make_token(db_session, scope="worker")
    clients["worker"] = (
        TestClient(app, follow_redirects=False),
        {"Authorization": f"Bearer {token}"},
    )
    clients["anonymous"] = (TestClient(app, follow_redirects=False), {})
    task.created_by = people["annotator"].id
    # The annotator's own submitted item: what an annotator may open, edit and label.
    item = items.create_item(
        session=db_session,
        project=project,
        author=people["annotator"],
        submit=True,
        draft=ItemDraft(kind="task", instruction="Name a colour.", output="Blue."),
    )
    found = unfinished_round(db_session, project, job, item, admin)
    # An output of the walked job on the walked item: the improve pages open on it.
    db_session.add(
        EvalPrediction(
            job_id=job.id,
            item_id=item.id,
            kind="task",
            reference="Blue.",
            base_output="Red.",
            tuned_output="Green.",
            scores={},
        )
    )
    ids = {
        "project_id": project.id,
        "item_id": item.id,
        "version_id": version.id,
        "job_id": job.id,
        "import_id": upload.id,
        "task_id": task.id,
        "round_id": found.id,
    }
    yield Walk(clients=clients, ids=ids)
    for client, _ in clients.values():
        client.close()


def project_scoped(route) -> bool:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if getattr(dep.call, "access_level", None):
            return bool(getattr(dep.call, "project_scoped", False))
        stack.extend(dep.dependencies)
    return False


def walked_path(route, ids: dict[str, int]) -> str:
    """The route's path with the walked project's ids (999999 for anything else)."""
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: str(ids.get(m.group(1), 999999)), route.path)


def free_params(route) -> bool:
    """Whether the path names something besides the project's rows (a user, an artifact)."""
    return any(name not in SCOPES for name in re.findall(r"\{([^}:]+)", route.path))


# Routes open to the managers and to whoever started the walked task (the annotator): a
# reviewer, who started nothing, is refused what the route's level would let through.
STARTER_OR_MANAGER = {"/tasks/{task_id}/cancel", "/api/v1/tasks/{task_id}/cancel"}


# The walked round lets every reviewer of the project judge: its judging routes are open to
# project annotators by level (a round may name annotators), and the walked annotator, whom
# it does not name, is refused.
JUDGES_ONLY = {
    "/rounds/{round_id}",
    "/rounds/{round_id}/judge",
    "/api/v1/rounds/{round_id}",
    "/api/v1/rounds/{round_id}/next",
    "/api/v1/rounds/{round_id}/judgments",
}
# An open round's results: only its managers who have not judged it see them; the walked
# reviewer is one of its judges.
RESULTS_WHILE_OPEN = {
    "/rounds/{round_id}/results",
    "/rounds/{round_id}/export.csv",
    "/api/v1/rounds/{round_id}/results",
    "/api/v1/rounds/{round_id}/judgments.csv",
    # A round's outputs to improve (its managers who do not judge get 409 until it closes).
    "/rounds/{round_id}/outputs",
    "/rounds/{round_id}/prompts/{prompt_id}/improve",
    "/rounds/{round_id}/prompts/{prompt_id}/improve/check",
}


def expected_on(route, caller: str, *, scoped: bool) -> str:
    if route.path in STARTER_OR_MANAGER and caller == "reviewer":
        return "forbidden"
    # A judgment's body is checked before the judge: an empty one answers 422 to anyone.
    if route.path in JUDGES_ONLY and caller == "annotator" and "GET" in route.methods:
        return "forbidden"
    if route.path in RESULTS_WHILE_OPEN and caller in ("annotator", "reviewer"):
        return "forbidden"
    return expected(access_level(route), caller, scoped=scoped)


def expected(level: str, caller: str, *, scoped: bool = False) -> str:
    """'login', 'forbidden', 'missing' or 'allowed' for a caller on a route of this level."""
    if level == "public":
        return "allowed"
    if caller == "anonymous":
        return "login"
    if level == "any":
        return "allowed"
    if level == "worker":
        return "allowed" if caller == "worker" else "forbidden"
    if caller == "worker":
        return "forbidden"
    global_role, project_role = PEOPLE_CALLERS[caller]
    if scoped:
        if global_role == "admin":
            return "allowed"
        if project_role is None:
            return "missing"
        return (
            "allowed" if ProjectRole(project_role).rank >= ProjectRole(level).rank else "forbidden"
        )
    if level == "manager":
        manages = global_role == "admin" or "manager" in (project_role, OUTSIDE_ROLES.get(caller))
        return "allowed" if manages else "forbidden"
    return "allowed" if Role(global_role).rank >= Role(level).rank else "forbidden"


def outcome(response, is_api: bool) -> str:
    if 'studio_session=""' in response.headers.get("set-cookie", ""):
        return "allowed"  # a successful sign-out also lands on /login
    if is_api and response.status_code == 401:
        return "login"
    if (
        not is_api
        and response.status_code in (303, 401)
        and response.headers.get("location", response.headers.get("HX-Redirect", "")).startswith(
            "/login"
        )
    ):
        return "login"
    if response.status_code == 403:
        return "forbidden"
    if response.status_code == 404:
        return "missing"
    return "allowed"


def test_each_level_is_enforced_for_every_caller(app, walk):
    failures = []
    checked = scoped_checked = 0
    # Sign-out last, or it would end the sessions the other checks use.
    for route in sorted(api_routes(app), key=lambda r: r.path == "/logout"):
        level = access_level(route)
        scoped = project_scoped(route)
        path = walked_path(route, walk.ids) if scoped else concrete_path(route)
        is_api = route.path.startswith("/api/")
        for method in sorted(route.methods - {"HEAD"}):
            for caller in CALLERS:
                client, headers = walk.clients[caller]
                response = client.request(method, path, headers=headers)
                got, want = outcome(response, is_api), expected_on(route, caller, scoped=scoped)
                checked += 1
                scoped_checked += scoped
                if level == "public":
                    ok = got != "login"  # a public route may refuse a bad form, never asks in
                elif want == "allowed" and (not scoped or free_params(route)):
                    ok = got in ("allowed", "missing")  # 999999 names nothing: a plain 404
                else:
                    ok = got == want
                if not ok:
                    failures.append(
                        f"{caller} {method} {path} [{level}{' in project' if scoped else ''}]: "
                        f"{response.status_code} → {got}, expected {want}"
                    )
    assert not failures, "\n".join(failures)
    assert checked >= len(api_routes(app)) * len(CALLERS)
    assert scoped_checked >= 60 * len(CALLERS)


def test_a_non_member_learns_nothing_a_missing_id_would_not_tell(app, db_session, admin_user):
    """Outside the project, a real item answers exactly as an id that names nothing."""
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Walked project"), actor=admin_user
    )
    item = items.create_item(
        session=db_session,
        project=project,
        author=admin_user,
        submit=True,
        draft=ItemDraft(kind="task", instruction="Name a colour.", output="Blue."),
    )
    outsider = make_user(db_session, role="reviewer")
    client = TestClient(app, follow_redirects=False)
    login(client, outsider.email)
    real = client.get(f"/api/v1/items/{item.id}")
    missing = client.get("/api/v1/items/999999")
    assert real.status_code == missing.status_code == 404
    assert real.json() == missing.json()
    page = client.get(f"/projects/{project.id}")
    assert page.status_code == 404
    assert "Walked project" not in page.text


def test_annotator_gets_403_on_every_admin_page(app, db_session):
    client = TestClient(app, follow_redirects=False)
    csrf = login(client, make_user(db_session).email)
    admin_paths = [r for r in api_routes(app) if r.path.startswith("/admin")]
    assert admin_paths
    for route in admin_paths:
        for method in route.methods - {"HEAD"}:
            response = client.request(method, concrete_path(route), headers={"X-CSRF-Token": csrf})
            assert response.status_code == 403


def test_an_annotator_sees_only_the_tasks_they_started(app, db_session, admin_user):
    """Another member's task is as good as missing to an annotator, whatever its kind."""
    project = projects.create_project(
        session=db_session, data=ProjectInput(name="Tasks"), actor=admin_user
    )
    starter, other = make_user(db_session), make_user(db_session)
    join(db_session, project, starter, other, role="annotator")
    task = BackgroundTask(kind="items.bulk", project_id=project.id, created_by=starter.id)
    db_session.add(task)
    db_session.flush()
    for person, status in ((starter, 200), (other, 404)):
        client = TestClient(app, follow_redirects=False)
        csrf = login(client, person.email)
        assert client.get(f"/tasks/{task.id}").status_code == status
        assert client.get(f"/api/v1/tasks/{task.id}").status_code == status
        cancel = client.post(f"/api/v1/tasks/{task.id}/cancel", headers={"X-CSRF-Token": csrf})
        assert cancel.status_code == status
        assert (
            client.post(
                f"/api/v1/tasks/{task.id}/retry", headers={"X-CSRF-Token": csrf}
            ).status_code
            == 403
        )  # a manager's
