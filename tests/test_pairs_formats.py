"""Importing preference pairs through the real import service, on both databases: TRL's
preference format (plain text and conversational), the chosen/rejected dialogue form (HH-RLHF's
text and message lists), Parquet, Chinese text, and every malformed row reported by its line
with a sentence, nothing reshaped."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from app.core.formats import schemas
from app.core.provenance import Origin
from app.models import Item
from tests.api_helpers import bearer
from tests.factories import make_user
from tests.helpers import login
from tests.import_factories import import_file
from tests.review_factories import make_project

DATA = Path(__file__).parent / "data"
PROMPT_ENDS = (
    "the prompt ends with an assistant turn; a pair's prompt ends with the user turn that its "
    "two responses answer"
)
NOT_THE_SAME_PROMPT = (
    "the chosen and the rejected dialogue differ before their last assistant turn; a pair's "
    "two responses answer the same prompt"
)
SAME = "The chosen and the rejected response are the same; a pair needs two."


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# Each file: its detected format, the problems by line, and the stored pairs by line as
# (system, instruction, turns, chosen, rejected, language).
FILES = {
    "pairs.trl_text.jsonl": (
        "trl_preference",
        {
            5: ["missing field 'chosen'"],
            6: [SAME],
            7: ["'rejected': the rejected response is empty"],
            8: ["'prompt' is empty"],
        },
        {
            1: (
                "",
                "Name a prime number between 10 and 20.",
                [],
                "13 is a prime number between 10 and 20.",
                "15",
                "en",
            ),
            2: (
                "",
                "Explain why the sky is blue in one sentence.",
                [],
                "Air scatters blue light more than red light, so blue reaches our eyes from "
                "every direction.",
                "Because it reflects the ocean.",
                "en",
            ),
            3: (
                "",
                "用一句话解释什么是光合作用。",
                [],
                "光合作用是植物利用阳光把二氧化碳和水变成糖和氧气的过程。",
                "植物吃阳光。",
                "zh",
            ),
            4: (
                "Answer with a name only.",
                "Suggest a name for a bakery.",
                [],
                "The Rolling Pin",
                "Bakery",
                "en",
            ),
            9: ("", "把“早上好”翻译成英文。", [], "Good morning.", "Good night.", "zh"),
        },  # fmt: skip
    ),
    "pairs.trl_chat.jsonl": (
        "trl_preference",
        {
            4: [f"prompt[1]: {PROMPT_ENDS}"],
            5: ["chosen[0] makes a tool call; tool calls cannot be imported"],
            6: ["'chosen' must hold one assistant message (it holds 2)"],
            7: ["prompt[0]: a pair's prompt starts with a user turn, not the assistant"],
            9: [
                "prompt[0] holds an image, audio or video tag; images, audio and video cannot "
                "be imported"
            ],
        },
        {
            1: ("", "Name a prime number between 10 and 20.", [], "13", "15", "en"),
            2: (
                "You are a patient maths tutor.",
                "What is 7 times 8?",
                [user("What is 7 times 8?"), assistant("56."), user("And 56 divided by 7?")],
                "8, since 7 times 8 is 56.",
                "9",
                "en",
            ),
            3: ("你是一位耐心的老师。", "三加四等于几？", [], "等于七。", "等于八。", "zh"),
            # Whole dialogues that begin with the row's prompt: the responses are their ends.
            8: ("", "Count to three.", [], "1, 2, 3.", "3, 2, 1.", "en"),
        },  # fmt: skip
    ),
    "pairs.hh_text.jsonl": (
        "hh_rlhf",
        {
            4: [NOT_THE_SAME_PROMPT],
            5: ["chosen turn 2: the chosen response is empty"],
            7: [
                "'chosen' does not begin with 'Human:' (HH-RLHF's dialogue text)",
                "'rejected' does not begin with 'Human:' (HH-RLHF's dialogue text)",
            ],
        },
        {
            1: ("", "What is a good name for a cat?", [], "Whiskers is a classic.", "Dog.", "en"),
            2: (
                "",
                "How far is the moon?",
                [
                    user("How far is the moon?"),
                    assistant("About 384,000 km."),
                    user("And in miles?"),
                ],
                "About 239,000 miles.",
                "Very far.",
                "en",
            ),
            3: ("", "北京是哪个国家的首都？", [], "北京是中国的首都。", "日本。", "zh"),
            6: ("", "Say hi.", [], "Hi!", "No.", "en"),
        },  # fmt: skip
    ),
    "pairs.hh_messages.jsonl": (
        "hh_rlhf",
        {
            4: [NOT_THE_SAME_PROMPT],
            5: ["'rejected' ends with a user turn, not the assistant's response"],
            6: ["chosen[1] has the role 'tool'; tool calls cannot be imported"],
        },
        {
            1: ("", "What is a good name for a cat?", [], "Whiskers is a classic.", "Dog.", "en"),
            2: (
                "Answer briefly.",
                "How far is the moon?",
                [
                    user("How far is the moon?"),
                    assistant("About 384,000 km."),
                    user("And in miles?"),
                ],
                "About 239,000 miles.",
                "Very far.",
                "en",
            ),
            3: ("", "北京是哪个国家的首都？", [], "北京是中国的首都。", "日本。", "zh"),
        },  # fmt: skip
    ),
}


@pytest.fixture
def setup(db_session):
    admin = make_user(db_session, role="admin")
    return make_project(db_session, admin, name="Pairs"), admin


def _stored(session, project) -> dict[int, tuple]:
    """The project's items by the line they came from, as (system, instruction, turns, chosen,
    rejected, language)."""
    found = {}
    for item in session.scalars(select(Item).where(Item.project_id == project.id)):
        assert item.kind == "preference" and item.origin == Origin.imported
        found[item.provenance["line"]] = (item.system, item.instruction, item.turns,
                                          item.output, item.rejected, item.language)  # fmt: skip
    return found


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_form_imports_its_pairs_and_reports_every_bad_row_by_line(
    db_session, tmp_path, setup, name
):
    project, admin = setup
    fmt, problems, pairs = FILES[name]
    job = import_file(
        db_session, tmp_path, project, admin, name, (DATA / name).read_bytes(),
        mode="valid_rows", status="submitted",
    )  # fmt: skip
    assert job.state == "done" and job.schema == fmt
    assert {p["number"]: p["reasons"] for p in job.errors} == problems
    assert (job.created_items, job.error_count) == (len(pairs), len(problems))
    assert _stored(db_session, project) == pairs
    statuses = set(db_session.scalars(select(Item.status).where(Item.project_id == project.id)))
    assert statuses == {"submitted"}  # both responses are there: nothing waits to be written


def test_all_or_nothing_imports_nothing_and_names_the_lines(db_session, tmp_path, setup):
    project, admin = setup
    name = "pairs.trl_chat.jsonl"
    job = import_file(db_session, tmp_path, project, admin, name, (DATA / name).read_bytes())
    assert job.state == "failed" and job.created_items == 0
    assert [p["number"] for p in job.errors] == sorted(FILES[name][1])
    assert _stored(db_session, project) == {}


def _parquet(rows: list[dict], path: Path) -> bytes:
    # pyarrow takes the columns from the first row: give each row every column, null if absent.
    columns = list(dict.fromkeys(key for row in rows for key in row))
    pq.write_table(pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows]), path)
    return path.read_bytes()


@pytest.mark.parametrize("name", ["pairs.trl_text.jsonl", "pairs.trl_chat.jsonl",
                                  "pairs.hh_messages.jsonl"])  # fmt: skip
def test_parquet_holds_the_same_pairs_as_jsonl(db_session, tmp_path, setup, name):
    """The good rows of each file as Parquet (columns of strings or of message lists, as
    Hugging Face datasets hold them; a column some rows lack is null in the others): the
    same pairs, numbered by row."""
    project, admin = setup
    fmt, _problems, pairs = FILES[name]
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    good = [json.loads(lines[line - 1]) for line in sorted(pairs)]
    payload = _parquet(good, tmp_path / "pairs.parquet")
    job = import_file(db_session, tmp_path / "in", project, admin, "pairs.parquet", payload,
                      status="submitted")  # fmt: skip
    assert job.state == "done" and job.container == "parquet" and job.schema == fmt
    expected = {row: pairs[line] for row, line in enumerate(sorted(pairs), start=1)}
    assert _stored(db_session, project) == expected


def test_a_parquet_row_with_a_problem_is_reported_by_its_row(db_session, tmp_path, setup):
    project, admin = setup
    rows = [
        {"prompt": "Say yes.", "chosen": "Yes.", "rejected": "No."},
        {"prompt": "Say no.", "chosen": "No.", "rejected": "No."},
        {"prompt": "说“是”。", "chosen": "是。", "rejected": "不是。"},
    ]
    payload = _parquet(rows, tmp_path / "rows.parquet")
    job = import_file(db_session, tmp_path / "in", project, admin, "rows.parquet", payload,
                      mode="valid_rows")  # fmt: skip
    assert {p["number"]: p["reasons"] for p in job.errors} == {2: [SAME]}
    stored = _stored(db_session, project)
    assert sorted(stored) == [1, 3] and stored[3][-1] == "zh"


def test_a_csv_file_holds_plain_text_and_message_lists_as_json(db_session, tmp_path, setup):
    """A CSV cell holds only text: a message list written in it as JSON is read as the list,
    and text that merely starts with a bracket stays text."""
    import csv
    import io

    project, admin = setup
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["prompt", "chosen", "rejected"])
    writer.writerow(
        [
            json.dumps([user("Hi"), assistant("Hello!"), user("Name a colour.")]),
            json.dumps([assistant("Blue.")]),
            json.dumps([assistant("No.")]),
        ]
    )
    writer.writerow(["[1, 2, 3]: sort these.", "[1, 2, 3]", "[3, 2, 1]"])  # fmt: skip
    job = import_file(db_session, tmp_path, project, admin, "pairs.csv", out.getvalue().encode(),
                      status="submitted")  # fmt: skip
    assert job.state == "done" and job.schema == "trl_preference", job.errors
    assert sorted(_stored(db_session, project).values()) == [
        ("", "Hi", [user("Hi"), assistant("Hello!"), user("Name a colour.")], "Blue.", "No.",
         "en"),
        ("", "[1, 2, 3]: sort these.", [], "[1, 2, 3]", "[3, 2, 1]", "en"),
    ]  # fmt: skip


def test_the_check_previews_both_responses_and_the_page_offers_the_formats(
    client, db_session, setup
):
    project, admin = setup
    csrf = login(client, admin.email)
    name = "pairs.hh_text.jsonl"
    upload = client.post(
        f"/projects/{project.id}/imports",
        data={"csrf_token": csrf},
        files={"file": (name, (DATA / name).read_bytes(), "application/jsonl")},
    )
    job_url = upload.headers["location"]
    page = client.get(job_url)
    assert page.status_code == 200 and '<strong id="detected-schema">hh_rlhf</strong>' in page.text
    for fmt in ("trl_preference", "hh_rlhf"):
        assert f'<option value="{fmt}"' in page.text
    job_id = int(job_url.rsplit("/", 1)[1])
    checked = client.post(f"/imports/{job_id}/check", data={"csrf_token": csrf})
    assert checked.status_code == 200
    assert "7 rows: 4 valid, 3 with problems." in checked.text
    assert "Whiskers is a classic." in checked.text and "Dog." in checked.text
    assert "Rejected response" in checked.text and "Chosen response" in checked.text
    assert "differ before their last assistant turn" in checked.text


def test_the_api_takes_a_preference_format(client, db_session, setup, run_tasks):
    project, admin = setup
    headers = bearer(db_session, admin)
    payload = (DATA / "pairs.trl_text.jsonl").read_bytes()
    answer = client.post(
        f"/api/v1/projects/{project.id}/imports",
        files={"file": ("pairs.txt", payload, "application/octet-stream")},
        data={"format": "trl_preference", "mode": "valid_rows"},
        headers=headers,
    )
    assert answer.status_code == 202, answer.text
    run_tasks()
    done = client.get(f"/api/v1/imports/{answer.json()['id']}", headers=headers).json()
    assert done["state"] == "done" and done["schema"] == "trl_preference"
    assert done["created_items"] == len(FILES["pairs.trl_text.jsonl"][2])


def test_the_form_the_api_and_the_cli_list_every_format():
    from app.cli import data as cli_data
    from app.datasets import export
    from app.imports import routes
    from app.imports.api import ImportForm

    assert set(cli_data.IMPORT_FORMATS) == set(schemas.SCHEMAS) == set(routes.SCHEMAS)
    assert set(cli_data.EXPORT_FORMATS) == set(export.FORMATS) == set(export.FORMAT_NAMES)
    description = ImportForm.model_fields["format"].description
    assert all(name in description for name in schemas.SCHEMAS)


def test_cleaning_reaches_both_responses_and_keeps_them_apart_from_the_turns(
    db_session, tmp_path, setup
):
    """A pair's turns end with the user: cleaning trims its turns, chosen and rejected
    responses each in place (a conversation's output is its last turn; a pair's is not)."""
    project, admin = setup
    row = {"prompt": [user(" Hi "), assistant(" Hello! "), user(" Name a colour. ")],
           "chosen": [assistant(" <b>Blue.</b> ")], "rejected": [assistant(" No. ")]}  # fmt: skip
    payload = (json.dumps(row) + "\n").encode()
    job = import_file(db_session, tmp_path, project, admin, "pair.jsonl", payload,
                      cleaning=["strip_html", "trim"])  # fmt: skip
    assert job.state == "done", job.errors
    assert list(_stored(db_session, project).values()) == [
        ("", "Hi", [user("Hi"), assistant("Hello!"), user("Name a colour.")], "Blue.", "No.", "en")
    ]
