"""The walk in ``test_route_access`` reaches each feature's routes: these name them, so a
route renamed or dropped out of the app fails here rather than leaving the walk quietly
shorter, and check the levels their features promise."""

from __future__ import annotations

from tests.test_route_access import access_level, api_routes, expected_on, project_scoped


def test_the_walk_covers_bulk_actions_and_retries(app):
    """The routes of bulk actions over a filter and of retrying tasks are walked above."""
    walked = {(m, r.path) for r in api_routes(app) for m in r.methods}
    assert {
        ("GET", "/projects/{project_id}/items/bulk/all"),
        ("POST", "/projects/{project_id}/items/bulk/all"),
        ("POST", "/api/v1/projects/{project_id}/items/bulk"),
        ("POST", "/tasks/{task_id}/retry"),
        ("POST", "/api/v1/tasks/{task_id}/retry"),
    } <= walked


def test_the_walk_covers_the_balance_reports(app):
    """A project's and a version's balance report, page and API, are walked above: open to
    the project's reviewers, refused to its annotators, missing to everyone else."""
    balance = {
        "/projects/{project_id}/balance",
        "/datasets/{version_id}/balance",
        "/api/v1/projects/{project_id}/balance",
        "/api/v1/datasets/{version_id}/balance",
    }
    walked = {r.path: r for r in api_routes(app) if r.path in balance}
    assert set(walked) == balance
    for route in walked.values():
        assert route.methods == {"GET"}
        assert access_level(route) == "reviewer" and project_scoped(route)
        assert expected_on(route, "annotator", scoped=True) == "forbidden"
        assert expected_on(route, "outside-reviewer", scoped=True) == "missing"


def test_the_walk_covers_generation_and_trying(app):
    """Generation jobs (launch form and API, the worker's inputs and answers) and trying a
    model (page, ask, answer, API) are among the routes walked above."""
    paths = {
        "/projects/{project_id}/generate",
        "/api/v1/projects/{project_id}/generation-jobs",
        "/api/v1/worker/jobs/{job_id}/inputs",
        "/api/v1/worker/jobs/{job_id}/generations",
        "/jobs/{job_id}/try",
        "/jobs/{job_id}/try/{try_id}",
        "/api/v1/jobs/{job_id}/try",
    }
    walked = {r.path: r for r in api_routes(app) if r.path in paths}
    assert set(walked) == paths
    assert access_level(walked["/api/v1/worker/jobs/{job_id}/inputs"]) == "worker"
    assert access_level(walked["/projects/{project_id}/generate"]) == "manager"
    assert access_level(walked["/jobs/{job_id}/try"]) == "reviewer"


def test_the_walk_covers_augmentation(app):
    """Rule-based augmentation (the form, its start and the API) is walked above: a project
    manager's, refused to its reviewers and annotators, missing to everyone else."""
    paths = {"/projects/{project_id}/augment", "/api/v1/projects/{project_id}/augment"}
    walked = [r for r in api_routes(app) if r.path in paths]
    assert {(r.path, m) for r in walked for m in r.methods} == {
        ("/projects/{project_id}/augment", "GET"),
        ("/projects/{project_id}/augment", "POST"),
        ("/api/v1/projects/{project_id}/augment", "POST"),
    }
    for route in walked:
        assert access_level(route) == "manager" and project_scoped(route)
        assert expected_on(route, "reviewer", scoped=True) == "forbidden"
        assert expected_on(route, "outside-manager", scoped=True) == "missing"
