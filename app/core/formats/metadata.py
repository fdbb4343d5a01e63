"""The ``metadata`` object every exported row carries, and restoring an item from it.

An export's prompt and response are rendered text, which cannot be parsed back into fields. The
metadata holds the fields themselves, so re-importing our own export restores each item exactly:
its content (with the output taken from the row's response) and its domain, tags and difficulty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from app.core.kinds import CONTENT_FIELDS, ItemContent, later_defaults

from .fields import constraint_ref, get_object, validation_messages

METADATA_KEYS = (
    "kind",
    "item_id",
    "revision",
    "instruction",
    "input",
    "demos",
    "constraints",
    "rules",
    "state_constraints",
    "domain",
    "tags",
    "language",
    "difficulty",
)
# The responses are not here: the output is the row's response, in the format's own field, and
# a pair's rejected response is the row's own too.
RESPONSES = ("output", "rejected")
_CONTENT_KEYS = tuple(name for name in CONTENT_FIELDS if name not in RESPONSES)
# Content fields added after the first export format follow the keys above, and only where they
# differ from their defaults, so files exported before them read the same and stay the same.
_LATER = {
    k: v
    for k, v in later_defaults(ItemContent).items()
    if k not in METADATA_KEYS and k not in RESPONSES
}
METADATA_KEYS = (*METADATA_KEYS, *_LATER)


def build_metadata(content: ItemContent, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata object of one item.

    ``meta`` gives what the content does not hold: item_id, revision, domain, tags, difficulty.
    """
    data = content.model_dump(mode="json")
    return {
        "kind": data["kind"],
        "item_id": meta.get("item_id"),
        "revision": meta.get("revision"),
        "instruction": data["instruction"],
        "input": data["input"],
        "demos": data["demos"],
        "constraints": data["constraints"],
        "rules": data["rules"],
        "state_constraints": data["state_constraints"],
        "domain": meta.get("domain"),
        "tags": list(meta.get("tags") or []),
        "language": data["language"],
        "difficulty": meta.get("difficulty"),
        **{k: data[k] for k, default in _LATER.items() if data[k] != default},
    }


def looks_like_metadata(value: Any) -> bool:
    """True for a metadata object, or its JSON string (as Parquet stores it), naming a kind."""
    if isinstance(value, str):
        if '"kind"' not in value:
            return False
        try:
            value = json.loads(value)
        except ValueError:
            return False
    return isinstance(value, Mapping) and "kind" in value and "instruction" in value


def restore(
    value: Any, output: str, errors: list[str], *, rejected: str = ""
) -> tuple[ItemContent | None, dict[str, Any]]:
    """The item's content and meta from a metadata object (dict or JSON string) and its
    output (and a pair's rejected response)."""
    metadata = get_object(value, "metadata", errors)
    if metadata is None:
        return None, {}
    unknown = sorted(set(metadata) - set(METADATA_KEYS))
    errors += [f"unknown metadata field {key!r}" for key in unknown]
    meta = _item_meta(metadata, errors)
    fields = {key: metadata[key] for key in _CONTENT_KEYS if metadata.get(key) is not None}
    fields["output"] = output
    if rejected:
        fields["rejected"] = rejected
    if isinstance(fields.get("constraints"), list):
        fields["constraints"] = _constraints(fields["constraints"], errors)
    try:
        content = ItemContent.model_validate(fields)
    except ValidationError as exc:
        errors += [f"metadata {message}" for message in validation_messages(exc)]
        return None, meta
    return (None if errors else content), meta


def _item_meta(metadata: Mapping[str, Any], errors: list[str]) -> dict[str, Any]:
    domain = metadata.get("domain")
    if domain is not None and not isinstance(domain, str):
        errors.append("metadata 'domain' must be a string")
    tags = metadata.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        errors.append("metadata 'tags' must be a list of strings")
    difficulty = metadata.get("difficulty")
    if difficulty is not None and (
        isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 1 <= difficulty <= 5
    ):
        errors.append("metadata 'difficulty' must be a whole number from 1 to 5")
    return {
        "item_id": metadata.get("item_id"),
        "revision": metadata.get("revision"),
        "domain": domain,
        "tags": list(tags) if isinstance(tags, list) else [],
        "difficulty": difficulty,
        "language": metadata.get("language"),
    }


def _constraints(refs: list[Any], errors: list[str]) -> list[Any]:
    checked: list[Any] = []
    for index, ref in enumerate(refs):
        params = ref.get("params") if isinstance(ref, Mapping) else None
        if not isinstance(ref, Mapping) or not isinstance(params, Mapping | None):
            checked.append(ref)  # ItemContent reports the shape
            continue
        label = f"metadata 'constraints[{index}]'"
        checked.append(constraint_ref(ref.get("id"), params, label, errors) or ref)
    return checked
