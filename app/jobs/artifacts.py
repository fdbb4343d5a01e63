"""A job's files: the trained adapter (or model) as a zip, its model card, its checkpoints.

Workers write them into the job's folder (``app.core.job_paths.JobFolder``); the app serves
them from the same folder, so a remote worker needs it shared (a volume in docker compose).

A worker is not trusted with what the app reads there: a path counts only when no part of it
below the artifact store is a link, and a file only when it is a plain file with no other name
(not a link, a pipe, a device or a hard link), opened without following links. So a worker
cannot make the web process show or send a file of its own, like ``/proc/self/environ``.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from fastapi.responses import Response, StreamingResponse
from markupsafe import Markup

from app.config import Settings
from app.core.job_paths import MODEL_CARD, JobFolder
from app.core.protocol import MAX_CARD_BYTES
from app.errors import InvalidInput, NotFound
from app.i18n import N_
from app.markdown import render_markdown
from app.models import Job

CARD = MODEL_CARD  # the name the download link asks for
CHUNK = 1 << 20
# Never follow a link; never wait on a pipe someone left in the folder.
_SAFE_OPEN = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _real(path: Path) -> Path | None:
    """``path`` if it exists and resolves to itself: no part of it is a link."""
    try:
        return path if path.resolve(strict=True) == path else None
    except (OSError, RuntimeError):  # missing, or a loop of links
        return None


def job_folder(artifacts_root: str | Path, job_id: int) -> JobFolder:
    """The job's folder under the artifact store, with the store's own path resolved (the
    store may itself sit behind a link the operator made)."""
    return JobFolder.of(Path(artifacts_root).resolve(), job_id)


def _open_plain(path: Path) -> BinaryIO | None:
    """``path`` open for reading if it is a plain file with no other name, else None."""
    try:
        fd = os.open(path, _SAFE_OPEN)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def check_checkpoint(*, artifacts_root: str | Path, job_id: int, name: str) -> str:
    """``name`` if it is a checkpoint folder of this job's own (a real folder, no link)."""
    try:
        path = _real(job_folder(artifacts_root, job_id).checkpoint(name))
    except ValueError:  # not a step-<n> name
        path = None
    if path is None or not path.is_dir():
        raise InvalidInput(
            N_(
                "Checkpoint %(name)s is not a folder in job %(id)s's checkpoints (it is "
                "missing or a link); the heartbeat was not recorded."
            ),
            name=name[:40],
            id=job_id,
        )
    return name


def model_dir(settings: Settings, job: Job) -> Path | None:
    return model_folder(settings.resolved_artifacts_dir, job)


def model_folder(artifacts_root: str | Path, job: Job) -> Path | None:
    """A succeeded job's model folder, if it is there as a real folder (no link)."""
    if job.status != "succeeded":
        return None
    return real_folder(job_folder(artifacts_root, job.id).model)


def real_folder(path: Path) -> Path | None:
    """``path`` if it is a folder and no part of it is a link."""
    found = _real(path)
    return found if found is not None and found.is_dir() else None


def _card(folder: Path | None) -> bytes | None:
    """The model card's bytes, if it is a plain file of at most ``MAX_CARD_BYTES``."""
    source = _open_plain(folder / CARD) if folder else None
    if source is None:
        return None
    with source:
        data = source.read(MAX_CARD_BYTES + 1)
    return data if len(data) <= MAX_CARD_BYTES else None


def model_card_html(settings: Settings, job: Job) -> Markup | None:
    data = _card(model_dir(settings, job))
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    if text.startswith("---"):  # YAML front matter is for the hub, not for people
        text = text.split("---", 2)[-1]
    return render_markdown(text)


class _Pipe:
    """A write-only file whose bytes are handed out as they are written."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        chunks, self.chunks = self.chunks, []
        yield from chunks


def _plain_files(folder: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """Each plain file under ``folder``, open, in a fixed order; links (to files or folders),
    pipes, devices and hard links are left out."""
    for top, folders, names in os.walk(folder, followlinks=False):
        if _real(Path(top)) is None:  # swapped for a link while we walked
            folders.clear()
            continue
        folders.sort()
        for name in sorted(names):
            source = _open_plain(Path(top) / name)
            if source is not None:
                yield Path(top) / name, source


def _zip_stream(folder: Path) -> Iterator[bytes]:
    """Zip the folder file by file without holding it in memory (weights can be gigabytes)."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        for path, opened in _plain_files(folder):
            with (
                opened as source,
                archive.open(str(path.relative_to(folder)), "w", force_zip64=True) as target,
            ):
                while block := source.read(CHUNK):
                    target.write(block)
                    yield from pipe.drain()
            yield from pipe.drain()
    yield from pipe.drain()


def download(settings: Settings, job: Job, name: str):
    folder = model_dir(settings, job)
    if folder is None:
        raise NotFound(N_("Job %(id)s has no saved model."), id=job.id)
    if name == CARD and (card := _card(folder)) is not None:
        return Response(
            card,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{CARD}"'},
        )
    if name == "model.zip":
        return StreamingResponse(
            _zip_stream(folder),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="job-{job.id}-model.zip"'},
        )
    raise NotFound(N_("No artifact named %(name)s."), name=os.path.basename(name))
