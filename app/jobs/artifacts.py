"""A finished job's files: the trained adapter (or model) as a zip, and its model card.

Workers write them into the job's folder (``app.core.protocol.JobFolder``); the app serves
them from the same folder, so a remote worker needs it shared (a volume in docker compose).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from fastapi.responses import FileResponse, StreamingResponse
from markupsafe import Markup

from app.config import Settings
from app.core.protocol import MODEL_CARD, JobFolder
from app.errors import NotFound
from app.i18n import N_
from app.markdown import render_markdown
from app.models import Job

CARD = MODEL_CARD  # the name the download link asks for
CHUNK = 1 << 20


def model_dir(settings: Settings, job: Job) -> Path | None:
    path = JobFolder.of(settings.resolved_artifacts_dir, job.id).model
    return path if job.status == "succeeded" and path.is_dir() else None


def model_card_html(settings: Settings, job: Job) -> Markup | None:
    folder = model_dir(settings, job)
    card = folder / CARD if folder else None
    if card is None or not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
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


def _zip_stream(folder: Path) -> Iterator[bytes]:
    """Zip the folder file by file without holding it in memory (weights can be gigabytes)."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            with (
                path.open("rb") as source,
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
    if name == CARD and (folder / CARD).is_file():
        return FileResponse(folder / CARD, media_type="text/markdown; charset=utf-8", filename=CARD)
    if name == "model.zip":
        return StreamingResponse(
            _zip_stream(folder),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="job-{job.id}-model.zip"'},
        )
    raise NotFound(N_("No artifact named %(name)s."), name=os.path.basename(name))
