"""Exporting preference pairs, on both databases: TRL's preference format (conversational and
plain text, JSONL and Parquet) and chosen/rejected dialogues; each round trip (export, import,
freeze) gives the same manifest hash, with our metadata for every pair and without it for the
pairs the format's own fields hold; the supervised formats leave pairs out and the preference
formats supervised items, and the dataset card, the CLI and the zip say how many."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections import Counter

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.config import get_settings
from app.core.formats import pair_writers
from app.datasets import export, freezing
from app.datasets.versions import VersionFilter
from app.imports import service as imports
from app.imports.reader import ImportOptions
from app.items.schemas import ItemDraft
from app.models import Item
from tests.api_helpers import bearer
from tests.dataset_factories import approved_project
from tests.review_factories import make_project
from tests.test_cli_datasets import seeded

NO_COMMAS = {"id": "punctuation:no_comma"}


def pair(**fields) -> ItemDraft:
    return ItemDraft(kind="preference", **{"language": "en", **fields})


def turns(*texts: str) -> list[dict[str, str]]:
    roles = ("user", "assistant")
    return [{"role": roles[i % 2], "content": text} for i, text in enumerate(texts)]


# Pairs whose prompt is an instruction alone (with a system prompt, or earlier turns): what
# the message forms hold in their own fields. The plain-text forms hold the first and fourth.
HELD = [
    pair(instruction="Name a prime number between 10 and 20.", output="13", rejected="15",
         domain="maths", tags=["numbers"], difficulty=1),
    pair(system="Answer with a name only.", instruction="Suggest a name for a bakery.",
         output="The Rolling Pin", rejected="I would call it Bakery."),
    pair(system="You are a patient maths tutor.",
         turns=turns("What is 7 times 8?", "56.", "And 56 divided by 7?"),
         output="8, since 7 times 8 is 56.", rejected="9"),
    pair(instruction="用一句话解释什么是光合作用。",
         output="光合作用是植物利用阳光制造养分的过程。", rejected="植物吃阳光。", language="zh"),
    pair(turns=turns("你好！", "你好，有什么可以帮你？", "推荐一本书。"),
         output="《活着》，余华写的。", rejected="不知道。", language="zh"),
]  # fmt: skip
# Pairs only our metadata brings back: an input, demonstrations, stated requirements, a
# prompt of one user turn (from a conversation of one exchange).
RICH = [
    pair(instruction="Summarise in five words.", input="Cats sleep most of the day.",
         output="Cats sleep a lot daily.", rejected="Cats."),
    pair(instruction="Give the antonym.", demos=[{"input": "hot", "output": "cold"}],
         input="up", output="down", rejected="sideways"),
    pair(instruction="Describe Paris.", constraints=[NO_COMMAS],
         output="Paris is the capital of France", rejected="Paris, the capital, is big"),
    pair(turns=turns("Pick a colour."), output="Blue.", rejected="I cannot."),
]  # fmt: skip
SFT = [
    ItemDraft(kind="task", instruction="Say hello in French.", output="Bonjour.", language="en"),
    ItemDraft(kind="conversation", turns=turns("Hi", "Hello!"), language="en"),
    ItemDraft(kind="task", instruction="把“谢谢”翻译成英文。", output="Thank you.", language="zh"),
]
TEXT_HELD = [HELD[0], HELD[3], *RICH]  # no system prompt, at most one (user) turn
CONTENT = ("kind", "instruction", "input", "output", "rejected", "demos", "constraints",
           "language", "system", "turns", "domain", "tags", "difficulty")  # fmt: skip


def _contents(items) -> set[str]:
    return {json.dumps([getattr(i, c) for c in CONTENT], ensure_ascii=False) for i in items}


def _freeze(session, project, admin, *, kinds=(), statuses=("approved",), eval_fraction=0.3):
    return freezing.create_version(
        session=session, project=project, name="v", actor=admin, eval_fraction=eval_fraction,
        f=VersionFilter(kinds=list(kinds), statuses=list(statuses)),
    )  # fmt: skip


def _reimport(session, tmp_path, files, target, admin) -> list[str]:
    """Import the exported splits into ``target`` as submitted items; the detected formats."""
    detected = []
    for path in files:
        with path.open("rb") as f:
            job = imports.store_upload(session=session, project=target, filename=path.name,
                                       stream=f, folder=tmp_path / "in", actor=admin)  # fmt: skip
        detected.append(job.schema)
        job = imports.run(session=session, job_id=job.id, actor=admin,
                          options=ImportOptions(status="submitted"))  # fmt: skip
        assert job.state == "done", (job.message, job.errors)
    return detected


def _rows(path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write_rows(path, rows: list[dict]) -> None:
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


@pytest.mark.parametrize("fmt", pair_writers.FORMATS)
def test_every_pair_comes_back_exactly_with_the_same_manifest(db_session, tmp_path, fmt):
    drafts = TEXT_HELD if fmt in pair_writers.TEXT_FORMATS else [*HELD, *RICH]
    project, admin, created = approved_project(db_session, drafts=[*drafts, *SFT],
                                               name=f"Pairs {fmt}")  # fmt: skip
    version = _freeze(db_session, project, admin)
    pairs_only = _freeze(db_session, project, admin, kinds=["preference"])
    files = export.write_folder(db_session, version.id, fmt, tmp_path / "out")
    assert [p.name for p in files] == ["README.md", *(export.file_name(fmt, s) for s in
                                                      ("train", "eval"))]  # fmt: skip
    assert sum(len(_rows(p)) for p in files[1:]) == len(drafts)
    target = make_project(db_session, admin, name=f"Restored {fmt}")
    assert set(_reimport(db_session, tmp_path, files[1:], target, admin)) == {"studio"}
    back = db_session.scalars(select(Item).where(Item.project_id == target.id)).all()
    assert _contents(back) == _contents(created[: len(drafts)])
    again = _freeze(db_session, target, admin, statuses=["submitted"])
    assert again.manifest_hash == pairs_only.manifest_hash


@pytest.mark.parametrize("fmt", pair_writers.FORMATS)
def test_without_metadata_the_pairs_the_format_holds_come_back_the_same(db_session, tmp_path, fmt):
    """A file from elsewhere has no metadata: a pair whose prompt is an instruction alone
    (with a system prompt or earlier turns, in the message forms) comes back with the same
    words, the language told by its script; so the manifest is the same."""
    text = fmt in pair_writers.TEXT_FORMATS
    drafts = [HELD[0], HELD[3]] if text else HELD
    project, admin, _created = approved_project(db_session, drafts=drafts, name=f"Bare {fmt}")
    version = _freeze(db_session, project, admin)
    files = export.write_folder(db_session, version.id, fmt, tmp_path / "out")
    for path in files[1:]:
        rows = _rows(path)
        _write_rows(path, [{k: v for k, v in row.items() if k != "metadata"} for row in rows])
    target = make_project(db_session, admin, name=f"Bare restored {fmt}")
    expected = "hh_rlhf" if fmt == "hh_jsonl" else "trl_preference"
    assert set(_reimport(db_session, tmp_path, files[1:], target, admin)) == {expected}
    again = _freeze(db_session, target, admin, statuses=["submitted"])
    assert again.manifest_hash == version.manifest_hash


def test_without_metadata_richer_prompts_come_back_as_the_model_saw_them(db_session, tmp_path):
    """What a format cannot hold in its own fields: an input, demonstrations and stated
    requirements come back inside the instruction, as the model saw the prompt."""
    project, admin, created = approved_project(db_session, drafts=RICH, name="Rich")
    version = _freeze(db_session, project, admin, eval_fraction=0.0)
    files = export.write_folder(db_session, version.id, "trl_chat_jsonl", tmp_path / "out")
    rows = _rows(files[1])
    _write_rows(files[1], [{k: v for k, v in row.items() if k != "metadata"} for row in rows])
    target = make_project(db_session, admin, name="Rich restored")
    _reimport(db_session, tmp_path, files[1:2], target, admin)
    back = {
        i.output: i for i in db_session.scalars(select(Item).where(Item.project_id == target.id))
    }
    assert back["Cats sleep a lot daily."].instruction == (
        "Summarise in five words.\n\nCats sleep most of the day."
    )
    assert back["down"].instruction.startswith("Give the antonym.\n\nInput: hot\nOutput: cold")
    assert "Requirements:" in back["Paris is the capital of France"].instruction
    assert back["Blue."].instruction == "Pick a colour." and back["Blue."].turns == []
    assert all(not item.demos and not item.constraints and not item.input for item in back.values())


def test_each_format_writes_the_prompt_as_the_model_sees_it(db_session, tmp_path):
    project, admin, _created = approved_project(db_session, drafts=HELD[2:3], name="One")
    version = _freeze(db_session, project, admin, eval_fraction=0.0)
    prompt = [{"role": "system", "content": "You are a patient maths tutor."},
              *turns("What is 7 times 8?", "56.", "And 56 divided by 7?")]  # fmt: skip
    chosen = {"role": "assistant", "content": "8, since 7 times 8 is 56."}
    rejected = {"role": "assistant", "content": "9"}
    for fmt, expected in [
        ("trl_chat_jsonl", {"prompt": prompt, "chosen": [chosen], "rejected": [rejected]}),
        ("trl_chat_parquet", {"prompt": prompt, "chosen": [chosen], "rejected": [rejected]}),
        ("hh_jsonl", {"chosen": [*prompt, chosen], "rejected": [*prompt, rejected]}),
    ]:
        files = export.write_folder(db_session, version.id, fmt, tmp_path / fmt)
        (row,) = _rows(files[1])
        metadata = row.pop("metadata")
        assert row == expected, fmt
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        assert metadata["kind"] == "preference" and "rejected" not in metadata


def test_supervised_formats_leave_pairs_out_and_say_how_many(db_session, tmp_path):
    drafts = [*HELD, *SFT]
    project, admin, _created = approved_project(db_session, drafts=drafts, name="Mixed")
    version = _freeze(db_session, project, admin)
    assert version.train_count + version.eval_count == len(drafts)
    for fmt in ("openai_jsonl", "parquet"):
        left_out: Counter[str] = Counter()
        files = export.write_folder(db_session, version.id, fmt, tmp_path / fmt, left_out)
        assert sum(len(_rows(p)) for p in files[1:]) == len(SFT)
        assert dict(left_out) == {"pairs": len(HELD)}
        card = files[0].read_text(encoding="utf-8")
        assert f"- {len(HELD)} preference pairs are not in these files" in card
        assert "supervised items (not preference pairs) are not in" not in card
    pairs_card = export.write_folder(db_session, version.id, "trl_chat_jsonl", tmp_path / "p")
    card = pairs_card[0].read_text(encoding="utf-8")
    assert f"- {len(SFT)} supervised items (not preference pairs) are not in these files" in card
    pairs = [ln for ln in card.splitlines() if ln.startswith("- Preference pairs:")]
    assert pairs and pairs[0].startswith(f"- Preference pairs: {len(HELD)} (train ")
    assert f"supervised items: {len(SFT)} (train " in pairs[0]
    # Plain text has no place for a system prompt or earlier turns.
    text = export.write_folder(db_session, version.id, "trl_text_jsonl", tmp_path / "t")
    assert sum(len(_rows(p)) for p in text[1:]) == 2
    assert "- 3 preference pairs whose prompt has a system prompt or earlier turns" in (
        text[0].read_text(encoding="utf-8")
    )


def test_the_zip_and_the_api_export_pairs_with_the_card_last(client, db_session):
    project, admin, _created = approved_project(db_session, drafts=[*HELD, *SFT], name="Zip")
    version = _freeze(db_session, project, admin)
    db_session.commit()
    answer = client.get(f"/api/v1/datasets/{version.id}/export?format=trl_chat_parquet",
                        headers=bearer(db_session, admin))  # fmt: skip
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert archive.namelist() == ["train.parquet", "eval.parquet", "README.md"]
        card = archive.read("README.md").decode()
    assert "exported as TRL preference Parquet" in card
    assert f"- {len(SFT)} supervised items (not preference pairs)" in card
    assert client.get(f"/api/v1/datasets/{version.id}/export?format=trl_pairs",
                      headers=bearer(db_session, admin)).status_code == 422  # fmt: skip


def test_the_exports_load_with_datasets(db_session, tmp_path):
    """Hugging Face ``datasets`` reads the files as TRL does: a column of message lists or of
    strings, one type each."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    from datasets import load_dataset

    project, admin, _created = approved_project(db_session, drafts=[*HELD, *RICH], name="HF")
    version = _freeze(db_session, project, admin)
    for fmt, loader in [("trl_chat_jsonl", "json"), ("trl_chat_parquet", "parquet"),
                        ("trl_text_parquet", "parquet"), ("hh_jsonl", "json")]:  # fmt: skip
        files = export.write_folder(db_session, version.id, fmt, tmp_path / fmt)
        loaded = load_dataset(loader, data_files={p.stem: str(p) for p in files[1:]},
                              cache_dir=str(tmp_path / "cache" / fmt))  # fmt: skip
        total = loaded["train"].num_rows + loaded["eval"].num_rows
        assert total == (len(TEXT_HELD) if "text" in fmt else len(HELD) + len(RICH)), fmt
        assert {"chosen", "rejected"} <= set(loaded["train"].column_names)


@pytest.fixture
def cli_setup(backend, tmp_path):
    def seed(session):
        project, admin, _created = approved_project(session, drafts=[*HELD, *SFT], name="Cli")
        return _freeze(session, project, admin).id

    with seeded(backend, tmp_path, seed) as ready:
        yield ready


def studio(env: dict, *args: str):
    get_settings.cache_clear()  # the settings are read from ``env``
    try:
        done = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    return done


def test_the_cli_exports_pairs_and_says_what_it_left_out(cli_setup, tmp_path):
    env, _engine, version_id = cli_setup
    out = studio(env, "export", str(version_id), "--format", "trl_text_jsonl",
                 "--out", str(tmp_path / "text")).output  # fmt: skip
    assert f"left out {len(SFT)} supervised items" in out
    assert "left out 3 preference pairs with a system prompt or earlier turns" in out
    out = studio(env, "export", str(version_id), "--format", "alpaca_jsonl",
                 "--out", str(tmp_path / "sft")).output  # fmt: skip
    assert f"left out {len(HELD)} preference pairs (this format is for supervised" in out
    # The file imports back with --format, read by its own fields: the same pairs, which the
    # project holds already.
    train = tmp_path / "text" / "train.jsonl"
    rows = len(train.read_text(encoding="utf-8").splitlines())
    imported = studio(env, "import", str(train), "--project", "Cli",
                      "--format", "trl_preference").output  # fmt: skip
    assert f"imported 0 items, skipped {rows} already present, 0 rows with problems" in imported
