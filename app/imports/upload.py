"""An import upload, streamed from the request straight into the imports folder.

Starlette's form parser would spool the file into memory and a temporary file first, for the
handler to copy it again. Here the file part is written where it is kept as it arrives, hashed
on the way, and removed if the request fails for any reason: too large (app.limits stops the
body at ``max_upload_bytes``), refused, a malformed form, or an error in the handler. The other
fields are kept in memory, within ``max_body_bytes``.

The caller's access is checked before the first byte is read (``deps.before_body``). A cookie
session's CSRF field must come before the file, as it does in the upload form: nothing is
written for a request that has not shown it.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from app.auth.deps import ProjectManagerBeforeBody, csrf_pending, form_csrf
from app.errors import InvalidInput, TooLarge
from app.i18n import N_
from app.imports.service import IncomingFile

FILE_TOO_LARGE = N_("The file is larger than the import limit of %(limit)s.")
FIELDS_TOO_LARGE = N_("The form's fields are larger than the limit of %(limit)s.")
NO_FILE = N_("Choose a file to import.")
NOT_A_FORM = N_("The upload is not a valid form.")
MAX_FIELDS = 100
WRITE_BYTES = 256 * 1024  # file data is written in pieces of about this size, off the event loop


def readable_size(n: int) -> str:
    """A byte count as people write it: 2 MB, 2 GB, 64 KB (binary units), else in bytes."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size and n % (size // 16) == 0:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


@dataclass
class Upload:
    """The stored file of an upload and the form's other fields."""

    file: IncomingFile
    fields: dict[str, list[str]] = field(default_factory=dict)

    def value(self, name: str, default: str | None = None) -> str | None:
        """The field's first value; an empty one counts as absent, as for FastAPI's forms."""
        values = self.fields.get(name)
        return values[0] if values and values[0] != "" else default

    def values(self, name: str) -> list[str]:
        return self.fields.get(name, [])


class _Parts:
    """python-multipart's callbacks: text fields are collected, file data queued for writing."""

    def __init__(self, charset: str, fields_limit: int) -> None:
        self.charset = charset
        self.fields_limit = fields_limit
        self.field_bytes = 0
        # ("field", (name, text)), ("file", (name, filename)), ("data", bytes), ("end", None)
        self.events: list[tuple[str, Any]] = []
        self.fields = 0
        self.ended = False  # the closing boundary was seen
        self._name = ""
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._data = bytearray()
        self._is_file = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._disposition, self._data, self._is_file = b"", bytearray(), False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode(self.charset, "replace")
        self._is_file = b"filename" in options
        if self._is_file:
            filename = options[b"filename"].decode(self.charset, "replace")
            self.events.append(("file", (self._name, filename)))
            return
        self.fields += 1
        if self.fields > MAX_FIELDS:
            self._too_large()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.events.append(("data", data[start:end]))
            return
        self.field_bytes += end - start
        if self.field_bytes > self.fields_limit:
            self._too_large()
        self._data += data[start:end]

    def on_part_end(self) -> None:
        if self._is_file:
            self.events.append(("end", None))
        else:
            text = self._data.decode(self.charset, "replace")
            self.events.append(("field", (self._name, text)))

    def on_end(self) -> None:
        self.ended = True

    def _too_large(self) -> None:
        raise TooLarge(FIELDS_TOO_LARGE, limit=readable_size(self.fields_limit))


class _Receiver:
    """Turns the parser's events into the stored file and the fields, in order."""

    def __init__(self, request: Request, folder) -> None:
        self.request = request
        self.folder = folder
        self.file: IncomingFile | None = None
        self.writing = False  # inside the one file part that is kept
        self.fields: dict[str, list[str]] = {}
        self.buffer = bytearray()

    async def take(self, events: list[tuple[str, Any]]) -> None:
        for kind, value in events:
            if kind == "field":
                name, text = value
                if name == "csrf_token" and csrf_pending(self.request):
                    form_csrf(self.request, text)
                self.fields.setdefault(name, []).append(text)
            elif kind == "file":
                await self._start(*value)
            elif kind == "data" and self.writing:
                self.buffer += value
                if len(self.buffer) >= WRITE_BYTES:
                    await self._flush()
            elif kind == "end" and self.writing:
                await self._flush()
                self.writing = False
        events.clear()

    async def _start(self, name: str, filename: str) -> None:
        if csrf_pending(self.request):
            form_csrf(self.request, "")  # the token must come before the file: refused
        if name != "file" or not filename:
            return  # a browser sends an empty file part when none was chosen
        if self.file is not None:
            raise InvalidInput(N_("Send one file per import."))
        self.file = await run_in_threadpool(IncomingFile, self.folder, filename)
        self.writing = True

    async def _flush(self) -> None:
        if self.buffer and self.file is not None:
            chunk, self.buffer = bytes(self.buffer), bytearray()
            await run_in_threadpool(self.file.write, chunk)

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


async def _receive(request: Request) -> Upload:
    settings = request.app.state.settings
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidInput(NO_FILE)
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "latin-1"
    parts = _Parts(charset, settings.max_body_bytes)
    receiver = _Receiver(request, settings.resolved_artifacts_dir / "imports")
    parser = MultipartParser(params[b"boundary"], parts.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await receiver.take(parts.events)
        parser.finalize()
        await receiver.take(parts.events)
        if not parts.ended:
            raise InvalidInput(NOT_A_FORM)  # cut short: the file may be incomplete
        if receiver.file is None:
            raise InvalidInput(NO_FILE)
        if csrf_pending(request):
            form_csrf(request, "")
        await run_in_threadpool(receiver.file.finish)
    except FormParserError as error:
        receiver.discard()
        raise InvalidInput(NOT_A_FORM) from error
    except BaseException:
        receiver.discard()
        raise
    return Upload(file=receiver.file, fields=receiver.fields)


async def receive_upload(
    request: Request, caller: ProjectManagerBeforeBody
) -> AsyncIterator[Upload]:
    """The upload, stored: for the project's managers, checked before the first byte is read.
    The file is removed again when the handler fails, so only recorded imports keep theirs."""
    upload = await _receive(request)
    try:
        yield upload
    except BaseException:
        upload.file.discard()
        raise


receive_upload.streams_upload = True  # type: ignore[attr-defined]  # app.limits: upload limit
ImportUpload = Annotated[Upload, Depends(receive_upload, scope="function")]


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI description of a streamed form (the route reads its own body)."""
    schema = {"multipart/form-data": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}
