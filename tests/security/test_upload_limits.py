"""Import uploads (issue 14, items 2 and 11): streamed to disk under a limit of their own.

Attacks: an upload over the import limit, announced or not (chunked), on the page and over the
API, must be refused 413 with a sentence, read no further than the limit and one chunk, and leave
no file and no import behind; an annotator or an anonymous caller must be refused before one byte
is read; a cookie upload must show its CSRF token before anything is written; the form's other
fields are held to the body limit. An upload within the limit is written where it is kept as it
arrives (not spooled in memory first) and imports as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import ImportJob, Item
from tests.factories import join, make_token, make_user
from tests.helpers import login
from tests.review_factories import make_project
from tests.security.raw_asgi import CHUNK, chunks, cookie_header, exchange

LIMIT = 8 * CHUNK  # the upload limit these tests set
WRITE_BYTES = 256 * 1024  # the size in which the app writes an upload (app.imports.upload)
BOUNDARY = "limits-boundary-7MA4YWxkTrZu0gW"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def multipart(
    file_chunks, *, before: dict[str, str] | None = None, after: dict[str, str] | None = None
) -> Iterator[bytes]:
    """A multipart form: ``before`` fields, the file (its data as given), ``after`` fields."""

    def fields(values: dict[str, str]) -> bytes:
        return b"".join(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in values.items()
        )

    yield (
        fields(before or {})
        + (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="rows.jsonl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    yield from file_chunks
    yield b"\r\n" + fields(after or {}) + f"--{BOUNDARY}--\r\n".encode()


def rows(n: int) -> bytes:
    return "\n".join(
        json.dumps({"instruction": f"Say {i}.", "input": "", "output": str(i)}) for i in range(n)
    ).encode()


@pytest.fixture
def setup(app, db_session):
    app.state.settings.max_upload_bytes = LIMIT
    app.state.settings.max_body_bytes = 2 * CHUNK
    admin = make_user(db_session, role="admin", email="uploader@example.org")
    project = make_project(db_session, admin, name="Uploads")
    folder = app.state.settings.resolved_artifacts_dir / "imports"
    return project, admin, folder


def page(project) -> str:
    return f"/projects/{project.id}/imports"


def stored(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


def imports_of(session, project) -> tuple[int, int]:
    jobs = session.scalar(
        select(func.count()).select_from(ImportJob).where(ImportJob.project_id == project.id)
    )
    items = session.scalar(
        select(func.count()).select_from(Item).where(Item.project_id == project.id)
    )
    return jobs, items


@pytest.fixture
def admin_headers(client, setup):
    """A signed-in admin's cookie and CSRF token."""
    csrf = login(client, setup[1].email)
    return {"cookie": cookie_header(client)}, csrf


class TestOverTheLimit:
    @pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
    def test_a_page_upload_is_refused_and_leaves_nothing(
        self, app, db_session, setup, admin_headers, declared
    ):
        project, _, folder = setup
        cookie, csrf = admin_headers
        headers = {**MULTIPART, **cookie}
        if declared:
            headers["content-length"] = str(LIMIT * 10)
        body = multipart(chunks(LIMIT * 10), before={"csrf_token": csrf})
        answer = exchange(
            app, "POST", f"/projects/{project.id}/imports", body=body, headers=headers
        )
        assert answer.status == 413
        assert "The file is larger than the import limit of 512 KB." in answer.text
        assert answer.chunks_read <= (0 if declared else LIMIT // CHUNK + 1)
        assert stored(folder) == []
        assert imports_of(db_session, project) == (0, 0)

    def test_an_api_upload_is_refused_and_leaves_nothing(self, app, db_session, setup):
        project, admin, folder = setup
        token = make_token(db_session, scope="user", owner=admin)
        headers = {**MULTIPART, "authorization": f"Bearer {token}"}
        body = multipart(chunks(LIMIT * 10), before={"mode": "valid_rows"})
        answer = exchange(
            app, "POST", f"/api/v1/projects/{project.id}/imports", body=body, headers=headers
        )
        assert answer.status == 413
        assert answer.json() == {
            "error": "too_large",
            "detail": "The file is larger than the import limit of 512 KB.",
        }
        assert answer.chunks_read <= LIMIT // CHUNK + 1
        assert stored(folder) == []
        assert imports_of(db_session, project) == (0, 0)

    def test_the_other_fields_are_held_to_the_body_limit(self, app, db_session, setup):
        project, admin, folder = setup
        token = make_token(db_session, scope="user", owner=admin)
        headers = {**MULTIPART, "authorization": f"Bearer {token}"}
        body = multipart([rows(3)], before={"format": "x" * (3 * CHUNK)})
        answer = exchange(
            app, "POST", f"/api/v1/projects/{project.id}/imports", body=body, headers=headers
        )
        assert answer.status == 413
        assert answer.json()["detail"] == "The form's fields are larger than the limit of 128 KB."
        assert stored(folder) == []


class TestRefusedBeforeReading:
    @pytest.mark.parametrize(("member", "status"), [(True, 403), (False, 404)])
    def test_an_annotator_upload_is_refused_unread(
        self, app, client, db_session, setup, member, status
    ):
        project, _, folder = setup
        annotator = make_user(db_session, role="annotator")
        if member:
            join(db_session, project, annotator)
        csrf = login(client, annotator.email)
        headers = {**MULTIPART, "cookie": cookie_header(client)}
        body = multipart(chunks(LIMIT // 2), before={"csrf_token": csrf})
        answer = exchange(
            app, "POST", f"/projects/{project.id}/imports", body=body, headers=headers
        )
        assert answer.status == status
        assert answer.chunks_read == 0
        assert stored(folder) == []

    def test_an_anonymous_upload_is_refused_unread(self, app, setup):
        project, _, folder = setup
        body = multipart(chunks(LIMIT // 2))
        answer = exchange(
            app, "POST", f"/projects/{project.id}/imports", body=body, headers=MULTIPART
        )
        assert answer.status == 303 and answer.headers["location"].startswith("/login")
        assert answer.chunks_read == 0
        assert stored(folder) == []

    def test_a_cookie_upload_shows_its_csrf_token_before_the_file(
        self, app, db_session, setup, admin_headers
    ):
        project, _, folder = setup
        cookie, csrf = admin_headers
        seen: list[list[Path]] = []
        body = multipart([rows(3)], after={"csrf_token": csrf})
        answer = exchange(
            app,
            "POST",
            f"/projects/{project.id}/imports",
            body=body,
            headers={**MULTIPART, **cookie},
            on_chunk=lambda n: seen.append(stored(folder)),
        )
        assert answer.status == 403
        assert all(files == [] for files in seen)  # nothing was written, even for a moment
        assert stored(folder) == []
        assert imports_of(db_session, project) == (0, 0)


class TestWithinTheLimit:
    def test_the_file_is_written_where_it_is_kept_as_it_arrives(
        self, app, db_session, setup, admin_headers
    ):
        project, _, folder = setup
        cookie, csrf = admin_headers
        app.state.settings.max_upload_bytes = 4 * WRITE_BYTES
        data = rows(100_000)[: 3 * WRITE_BYTES]
        data = data[: data.rindex(b"\n")]
        pieces = [data[i : i + CHUNK // 4] for i in range(0, len(data), CHUNK // 4)]
        sizes: list[int] = []

        def look(n: int) -> None:
            if n == len(pieces):  # before the last piece of the file is handed over
                sizes.extend(p.stat().st_size for p in stored(folder))

        answer = exchange(
            app,
            "POST",
            f"/projects/{project.id}/imports",
            body=multipart(pieces, before={"csrf_token": csrf}),
            headers={**MULTIPART, **cookie},
            on_chunk=look,
        )
        assert answer.status == 303, answer.text
        # Most of the file is in the imports folder before its end has arrived.
        assert len(sizes) == 1 and sizes[0] >= 2 * WRITE_BYTES
        job = db_session.scalar(select(ImportJob).where(ImportJob.project_id == project.id))
        assert (job.size, job.file_hash) == (len(data), hashlib.sha256(data).hexdigest())
        assert stored(folder) == [Path(job.path)]
        assert Path(job.path).read_bytes() == data

    def test_an_api_import_still_imports(self, client, db_session, setup, run_tasks):
        project, admin, folder = setup
        token = make_token(db_session, scope="user", owner=admin)
        response = client.post(
            f"/api/v1/projects/{project.id}/imports",
            headers={"Authorization": f"Bearer {token}"},
            data={"mode": "valid_rows", "status": "submitted", "cleaning": ["trim"]},
            files={"file": ("n.jsonl", rows(5))},
        )
        assert response.status_code == 202, response.text
        assert run_tasks() == [response.json()["task_id"]]
        assert imports_of(db_session, project) == (1, 5)
        statuses = set(db_session.scalars(select(Item.status).where(Item.project_id == project.id)))
        assert statuses == {"submitted"}

    def test_a_failed_import_request_removes_its_file(self, client, db_session, setup):
        project, admin, folder = setup
        token = make_token(db_session, scope="user", owner=admin)
        response = client.post(
            f"/api/v1/projects/{project.id}/imports",
            headers={"Authorization": f"Bearer {token}"},
            data={"mode": "no_such_mode"},
            files={"file": ("n.jsonl", rows(5))},
        )
        assert response.status_code == 422
        assert stored(folder) == []
        assert imports_of(db_session, project) == (0, 0)

    def test_an_upload_cut_short_is_refused_and_leaves_nothing(self, app, db_session, setup):
        """A body that ends inside the file (no closing boundary) is not taken for the file."""
        project, admin, folder = setup
        token = make_token(db_session, scope="user", owner=admin)
        headers = {**MULTIPART, "authorization": f"Bearer {token}"}
        body = list(multipart([rows(3)], before={"mode": "valid_rows"}))[:-1]
        answer = exchange(
            app, "POST", f"/api/v1/projects/{project.id}/imports", body=body, headers=headers
        )
        assert answer.status == 422
        assert stored(folder) == []
        assert imports_of(db_session, project) == (0, 0)
