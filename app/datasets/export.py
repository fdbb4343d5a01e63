"""Exports of a dataset version: a folder (CLI) or a streamed zip (browser, API).

Rows are streamed from the database (``versions.pinned_snapshots``) and written split by split
to a temporary file, so memory does not grow with the dataset; the zip is produced as it is sent.
The supervised formats (``writers``) hold every item but preference pairs, the preference
formats (``pair_writers``) the pairs alone; what a format leaves out is counted as the rows are
written, and the dataset card (README.md, written last) says how many and why.
Snapshots in the shape the services save render without building the content model (see
``_plain_content``); the bytes are those of the model's path, which
``tests/test_export_speed_paths.py`` checks against a plain reference.
"""

from __future__ import annotations

import math
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from app import metrics
from app.core.formats import pair_writers, writers
from app.core.kinds import ItemContent, ItemKind, later_defaults
from app.datasets import card, versions
from app.errors import InvalidInput
from app.i18n import N_
from app.models import DatasetVersion

FORMAT_NAMES = {
    "alpaca_json": "Alpaca JSON",
    "alpaca_jsonl": "Alpaca JSONL",
    "openai_jsonl": "OpenAI chat JSONL",
    "sharegpt_json": "ShareGPT JSON",
    "parquet": "Parquet",
    "trl_chat_jsonl": "TRL preference JSONL",
    "trl_chat_parquet": "TRL preference Parquet",
    "trl_text_jsonl": "TRL preference JSONL (plain text)",
    "trl_text_parquet": "TRL preference Parquet (plain text)",
    "hh_jsonl": "Chosen/rejected dialogues JSONL",
}
FORMATS = (*writers.FORMATS, *pair_writers.FORMATS)
SPLITS = ("train", "eval")
PREFERENCE = ItemKind.preference.value
# Why a format leaves an item out (the counts an export keeps): a pair in a supervised format,
# a supervised item in a preference format, a pair that plain text cannot hold.
LEFT_OUT = ("pairs", "sft", "conversational_pairs")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(
            N_("Unknown export format %(format)s."), format=fmt, errors={"format": N_("Invalid.")}
        )
    return fmt


def holds_pairs(fmt: str) -> bool:
    """Whether ``fmt`` is a preference format (it holds pairs and nothing else)."""
    return fmt in pair_writers.FORMATS


def rows(
    session: Session,
    version_id: int,
    split: str,
    fmt: str = "alpaca_jsonl",
    left_out: Counter[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Export rows of one split for ``fmt``, streamed; what the format cannot hold is counted
    in ``left_out`` by reason (``LEFT_OUT``). Close it (or read it to the end) before the
    session runs anything else (see ``versions.pinned_snapshots``)."""
    left_out = Counter() if left_out is None else left_out
    with closing(versions.pinned_snapshots(session, version_id, split)) as snapshots:
        if holds_pairs(fmt):
            made = _pair_rows(snapshots, split, fmt, left_out)
        else:
            made = _export_rows(snapshots, split, left_out)
        yield from metrics.counted(made, metrics.EXPORT_ITEMS)


def _meta(item_id: int, revision: int, snap: dict[str, Any], split: str) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "revision": revision,
        "domain": snap.get("domain"),
        "tags": snap.get("tags") or [],
        "difficulty": snap.get("difficulty"),
        "split": split,
    }


def _pair_rows(snapshots, split: str, fmt: str, left_out: Counter[str]) -> Iterator[dict]:
    for item_id, revision, snap in snapshots:
        if snap.get("kind") != PREFERENCE:
            left_out["sft"] += 1
            continue
        content = ItemContent.from_row(snap)
        if not pair_writers.holds(fmt, content):
            left_out["conversational_pairs"] += 1
            continue
        yield pair_writers.export_row(content, _meta(item_id, revision, snap, split))


def _export_rows(snapshots, split: str, left_out: Counter[str]) -> Iterator[dict[str, Any]]:
    for item_id, revision, snap in snapshots:
        if snap.get("kind") == PREFERENCE:  # supervised fine-tuning leaves pairs out
            left_out["pairs"] += 1
            continue
        meta = _meta(item_id, revision, snap, split)
        content = _plain_content(snap)
        if content is None:  # anything unusual takes the validating path, errors included
            yield writers.export_row(ItemContent.from_row(snap), meta)
        else:
            yield writers.export_row(content, meta)  # type: ignore[arg-type]


# --- the fast path: content without the model ----------------------------------------------
#
# Validating every snapshot into ``ItemContent`` and dumping it again cost more than reading
# it. A snapshot was validated when it was saved; when its fields have exactly the types and
# shapes the model would keep as they are, a plain view renders (through the same
# ``render_messages``) and dumps identically. Anything else goes through the model.
#
# The view knows the content fields it was written for. A field added to ``ItemContent`` later
# takes the model's path whenever a snapshot sets it, and is dumped at its default otherwise.

_KINDS = {kind.value: kind for kind in ItemKind}


class _Demo(NamedTuple):
    input: str
    output: str


class _Ref(NamedTuple):
    id: str
    params: dict[str, Any]


class _ContentView(NamedTuple):
    """What ``render_messages`` and ``build_metadata`` read of an ``ItemContent``."""

    kind: ItemKind
    instruction: str
    input: str
    output: str
    demos: list[_Demo]
    constraints: list[_Ref]
    rules: list[str]
    state_constraints: bool
    language: str

    # The view stands only for content whose later fields are at their defaults.
    @property
    def system(self) -> str:
        return ""

    @property
    def turns(self) -> list[Any]:
        return []

    def model_dump(self, mode: str = "json") -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "instruction": self.instruction,
            "input": self.input,
            "output": self.output,
            "demos": [{"input": d.input, "output": d.output} for d in self.demos],
            "constraints": [{"id": r.id, "params": dict(r.params)} for r in self.constraints],
            "rules": list(self.rules),
            "state_constraints": self.state_constraints,
            "language": self.language,
            **_LATER_DEFAULTS,
        }


_LATER_DEFAULTS = {
    name: value
    for name, value in later_defaults(ItemContent).items()
    if name not in _ContentView._fields
}


def _plain_content(snap: dict[str, Any]) -> _ContentView | None:
    """The snapshot's content as a view, or None when only the model can say what it is."""
    if _LATER_DEFAULTS and any(snap.get(k, v) != v for k, v in _LATER_DEFAULTS.items()):
        return None
    kind = snap.get("kind")
    kind = _KINDS.get(kind) if type(kind) is str else None
    instruction = snap.get("instruction")
    text, output = snap.get("input", ""), snap.get("output", "")
    language, state = snap.get("language", "en"), snap.get("state_constraints", True)
    demos, refs, rules = snap.get("demos", []), snap.get("constraints", []), snap.get("rules", [])
    if (
        kind is None
        or type(instruction) is not str
        or not instruction.strip()
        or type(text) is not str
        or type(output) is not str
        or type(language) is not str
        or not language.strip()
        or type(state) is not bool
        or type(demos) is not list
        or type(refs) is not list
        or type(rules) is not list
    ):
        return None
    plain_demos: list[_Demo] = []
    plain_refs: list[_Ref] = []
    if kind is ItemKind.example:
        if refs or rules or not demos or not text.strip():
            return None
        for demo in demos:
            if type(demo) is not dict or len(demo) != 2:
                return None
            d_in, d_out = demo.get("input"), demo.get("output")
            if type(d_in) is not str or type(d_out) is not str:
                return None
            if not d_in.strip() or not d_out.strip():
                return None
            plain_demos.append(_Demo(d_in, d_out))
    elif demos:
        return None
    elif kind is ItemKind.constraint:
        for ref in refs:
            if type(ref) is not dict or not set(ref) <= {"id", "params"}:
                return None
            ref_id, params = ref.get("id"), ref.get("params", {})
            if type(ref_id) is not str or not ref_id.strip() or type(params) is not dict:
                return None
            if not _plain_json(params):
                return None
            plain_refs.append(_Ref(ref_id, params))
        if not all(type(rule) is str for rule in rules):
            return None
    elif refs or rules:
        return None
    return _ContentView(
        kind, instruction, text, output, plain_demos, plain_refs, rules, state, language
    )


def _plain_json(value: Any) -> bool:
    """True when the model's JSON dump keeps ``value`` as it is (it turns inf and nan into
    None, and a number too large for a float parses as inf)."""
    if type(value) is dict:
        return all(type(k) is str and _plain_json(v) for k, v in value.items())
    if type(value) is list:
        return all(_plain_json(v) for v in value)
    if type(value) is float:
        return math.isfinite(value)
    return value is None or type(value) in (str, int, bool)


file_name = card.file_name


def dataset_card(
    session: Session, version: DatasetVersion, fmt: str, left_out: Mapping[str, int] | None = None
) -> str:
    """README.md: what is in the export and what the format left out (``left_out``, by
    reason), where it came from, how to check it."""
    return card.dataset_card(session, version, fmt, FORMAT_NAMES[fmt], left_out)


def write_split(fmt: str, split_rows: Iterator[dict[str, Any]], out) -> int:
    """Write one split's rows (from :func:`rows`) as ``fmt``; returns the row count."""
    if holds_pairs(fmt):
        return pair_writers.write(fmt, split_rows, out)
    return writers.write(fmt, split_rows, out)


def write_folder(
    session: Session, version_id: int, fmt: str, out: Path, left_out: Counter[str] | None = None
) -> list[Path]:
    """Write README.md and one file per split into a folder (the CLI's export); ``left_out``
    counts, by reason, the items the format could not hold (the card says so too)."""
    check_format(fmt)
    left_out = Counter() if left_out is None else left_out
    version = versions.get_version(session=session, version_id=version_id)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "README.md"]
    for split in SPLITS:
        path = out / file_name(fmt, split)
        with (
            path.open("wb") as f,
            closing(rows(session, version.id, split, fmt, left_out)) as split_rows,
        ):
            write_split(fmt, split_rows, f)
        written.append(path)
    # Last: the card says what the splits left out.
    written[0].write_text(dataset_card(session, version, fmt, left_out), encoding="utf-8")
    return written


class _Sink:
    """A write-only, non-seekable buffer; zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def stream_zip(
    open_session: Callable[[], AbstractContextManager[Session]], version_id: int, fmt: str
) -> Iterator[bytes]:
    """The export as a zip, produced while it is sent; it outlives the request, so it reads
    through a session of its own (``app.state.open_session``)."""
    sink = _Sink()
    with open_session() as session, zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        version = versions.get_version(session=session, version_id=version_id)
        left_out: Counter[str] = Counter()
        for split in SPLITS:
            with tempfile.TemporaryFile() as tmp:
                with closing(rows(session, version.id, split, fmt, left_out)) as split_rows:
                    write_split(fmt, split_rows, tmp)
                tmp.seek(0)
                with archive.open(file_name(fmt, split), "w", force_zip64=True) as entry:
                    while chunk := tmp.read(1 << 20):
                        entry.write(chunk)
                        yield sink.take()
        # Last: the card says what the splits left out.
        archive.writestr("README.md", dataset_card(session, version, fmt, left_out))
    yield sink.take()
