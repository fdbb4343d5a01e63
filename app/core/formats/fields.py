"""Typed reading of one imported row's fields, collecting field-named errors instead of raising.

Import reports list every problem of a row at once ("missing field 'output'", "'instruction'
must be a string"), so these helpers append to an error list and return a harmless default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


def get_text(
    data: Mapping[str, Any],
    key: str,
    errors: list[str],
    *,
    label: str | None = None,
    required: bool = True,
) -> str:
    """The string at ``key`` exactly as given; ``""`` (and an error if required) when absent."""
    label = label or key
    value = data.get(key)
    if value is None:
        if required:
            errors.append(f"missing field {label!r}")
        return ""
    if not isinstance(value, str):
        errors.append(f"{label!r} must be a string")
        return ""
    return value


def get_optional_text(data: Mapping[str, Any], key: str, errors: list[str]) -> str | None:
    """A string or ``None``; an empty string counts as not given."""
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append(f"{key!r} must be a string")
        return None
    return value


def get_list(
    data: Mapping[str, Any],
    key: str,
    errors: list[str],
    *,
    label: str | None = None,
    required: bool = True,
) -> list[Any]:
    """The list at ``key``; a JSON-encoded list is accepted because CSV cells can only be text."""
    label = label or key
    value = _decoded(data.get(key), "[")
    if value is None:
        if required:
            errors.append(f"missing field {label!r}")
        return []
    if isinstance(value, _BadJSON):
        errors.append(f"{label!r} is not valid JSON")
        return []
    if not isinstance(value, list):
        errors.append(f"{label!r} must be a list")
        return []
    return value


def get_object(value: Any, label: str, errors: list[str]) -> dict[str, Any] | None:
    """``value`` as a dict (a JSON-encoded object is accepted); ``None`` with an error if not."""
    value = _decoded(value, "{")
    if isinstance(value, dict):
        return value
    errors.append(
        f"{label!r} is not valid JSON"
        if isinstance(value, _BadJSON)
        else f"{label!r} must be an object"
    )
    return None


def source_id(data: Mapping[str, Any]) -> str | None:
    """The row's own identifier (``id``, or ``key`` as in IFEval), kept to trace an item back."""
    for key in ("id", "key"):
        value = data.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str | int) and str(value).strip():
            return str(value)
    return None


def validation_messages(exc: ValidationError) -> list[str]:
    """Pydantic errors as "'demos[0].input': ..." sentences, or the bare sentence for the row."""
    messages = []
    for err in exc.errors(include_url=False):
        path = ""
        for part in err.get("loc", ()):
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        messages.append(f"{path!r}: {err['msg']}" if path else err["msg"])
    return messages


def constraint_ref(
    constraint_id: Any, params: Mapping[str, Any] | None, label: str, errors: list[str]
) -> dict[str, Any] | None:
    """A registry constraint with its parameters checked and normalised, as the editor saves it.

    ``None`` values are dropped first: IFEval's data and Parquet struct columns list every
    parameter name, unused ones as null.
    """
    # Lazy: the registry pulls in language detection, which plain task imports do not need.
    from app.core.constraints import ConstraintParamsError, UnknownConstraintError, validate_params

    if not isinstance(constraint_id, str) or not constraint_id.strip():
        errors.append(f"{label}: the constraint id must be a non-empty string")
        return None
    given = {name: value for name, value in (params or {}).items() if value is not None}
    try:
        return {"id": constraint_id, "params": validate_params(constraint_id, given)}
    except UnknownConstraintError:
        errors.append(f"{label}: unknown constraint {constraint_id!r}")
    except ConstraintParamsError as exc:
        errors.append(f"{label}: {exc}")
    return None


class _BadJSON:
    """Marks a string that looked like JSON but did not parse."""


def _decoded(value: Any, opener: str) -> Any:
    if isinstance(value, str) and value.lstrip().startswith(opener):
        try:
            return json.loads(value)
        except ValueError:
            return _BadJSON()
    return value
