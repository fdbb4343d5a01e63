"""Every registered route declares an access level, and each level is enforced.

Anonymous callers are sent to /login (pages) or get 401 (API); a role below the
route's level gets 403; worker tokens reach only worker routes.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from app.auth.deps import LEVELS
from app.models import Role
from tests.factories import make_token, make_user
from tests.helpers import login

PEOPLE = [r.value for r in Role]
CALLERS = ["anonymous", *PEOPLE, "worker"]


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


@pytest.fixture
def callers(app, db_session):
    """One signed-in client per role, plus a worker-token client and an anonymous one."""
    clients: dict[str, tuple[TestClient, dict[str, str]]] = {}
    for role in PEOPLE:
        user = make_user(db_session, role=role)
        client = TestClient(app, follow_redirects=False)
        csrf = login(client, user.email)
        clients[role] = (client, {"X-CSRF-Token": csrf})
    token = make_token(db_session, scope="worker")
    clients["worker"] = (
        TestClient(app, follow_redirects=False),
        {"Authorization": f"Bearer {token}"},
    )
    clients["anonymous"] = (TestClient(app, follow_redirects=False), {})
    yield clients
    for client, _ in clients.values():
        client.close()


def expected(level: str, caller: str) -> str:
    """'login', 'forbidden' or 'allowed' for a caller on a route of this level."""
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
    return "allowed" if Role(caller).rank >= Role(level).rank else "forbidden"


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
    return "allowed"


def test_each_level_is_enforced_for_every_caller(app, callers):
    failures = []
    checked = 0
    # Sign-out last, or it would end the sessions the other checks use.
    for route in sorted(api_routes(app), key=lambda r: r.path == "/logout"):
        level = access_level(route)
        path = concrete_path(route)
        is_api = route.path.startswith("/api/")
        for method in sorted(route.methods - {"HEAD"}):
            for caller in CALLERS:
                client, headers = callers[caller]
                response = client.request(method, path, headers=headers)
                got, want = outcome(response, is_api), expected(level, caller)
                checked += 1
                # A public route may refuse a bad form but never asks to sign in.
                ok = got != "login" if level == "public" else got == want
                if not ok:
                    failures.append(
                        f"{caller} {method} {path} [{level}]: "
                        f"{response.status_code} → {got}, expected {want}"
                    )
    assert not failures, "\n".join(failures)
    assert checked >= len(api_routes(app)) * len(CALLERS)


def test_annotator_gets_403_on_every_admin_page(app, callers):
    client, headers = callers["annotator"]
    admin_paths = [r for r in api_routes(app) if r.path.startswith("/admin")]
    assert admin_paths
    for route in admin_paths:
        for method in route.methods - {"HEAD"}:
            assert client.request(method, concrete_path(route), headers=headers).status_code == 403
