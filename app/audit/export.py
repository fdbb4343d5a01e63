"""The audit trail as CSV for spreadsheets, safe from formula injection.

Anyone can put text in the trail (a failed sign-in records the email as typed), and a
spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula. Following
OWASP's advice, such a text cell is prefixed with a single quote, which spreadsheets show as
text, and every text cell is quoted so a separator inside it cannot start a new cell. Numbers
are written bare, but only values that are numbers in Python, never text that looks like one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

from app.models import AuditEvent

# OWASP's list plus line feed and the full-width forms, which spreadsheets in CJK locales
# may read as their ASCII twins.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
HEADER = ("id", "at", "actor", "action", "entity_type", "entity_id", "before", "after")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as written: numbers as numbers, text that
    starts like a formula behind a single quote."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Each row as one CSV line (streamed), every cell through :func:`safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()


def audit_csv(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The header and one line per event."""
    lines = (
        (
            e.id,
            e.at.isoformat(),
            e.actor_label,
            e.action,
            e.entity_type,
            e.entity_id,
            _json(e.before),
            _json(e.after),
        )
        for e in events
    )
    return csv_rows(chain([HEADER], lines))


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
