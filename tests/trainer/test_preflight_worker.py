"""Pre-flight checks through the real worker loop (``trainer.worker.serve``) against the real
app in process, on a real tiny model: a check asked for through the API is taken before an
older queued job, and its report shows the example exactly as the job trains it (tokens that
join into the decoded text, the loss on exactly the tokens whose label is not -100); a check
that fails answers with the job's sentence, and the worker goes on to its jobs."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from transformers import AutoTokenizer

from app.core.job_paths import API_ROOT
from app.core.kinds import ItemContent
from app.core.preflight import PreflightReport
from app.core.prompts import render_messages
from app.core.protocol import JobParams
from app.datasets import freezing, versions
from app.datasets.versions import VersionFilter
from app.items.schemas import ItemDraft
from app.jobs import service as jobs
from app.models import Job, Preflight
from app.tokens import service as tokens
from tests.dataset_factories import DRAFTS, approved_project
from tests.factories import make_token
from tests.helpers import login
from trainer.client import AppClient
from trainer.data import IGNORE, encode_example
from trainer.pairs import encode_pair
from trainer.preflight import token_texts
from trainer.tiny import build_tiny
from trainer.worker import serve

from .pair_data import PAIRS

CONVERSATIONS = [
    ItemDraft(
        kind="conversation",
        system="你是一位耐心的数学老师。",
        turns=[
            {"role": "user", "content": f"三加{n}等于几？"},
            {"role": "assistant", "content": f"等于{n + 3}。"},
            {"role": "user", "content": "那再乘以二呢？"},
            {"role": "assistant", "content": f"{n + 3}乘以二等于{2 * (n + 3)}。"},
        ],
    )
    for n in range(3)
]
MARKUP = [
    ItemDraft(kind="task", instruction=f"Quote tag {n}.", output=f"<script>alert({n})</script>")
    for n in range(4)
]
SMALL = dict(max_steps=2, batch_size=2, generation={"max_new_tokens": 2}, seed=3)


def _worker(app, token: str) -> AppClient:
    worker = AppClient("http://testserver", token)
    worker.http = TestClient(
        app, base_url="http://testserver" + API_ROOT, headers={"Authorization": f"Bearer {token}"}
    )
    return worker


def _setup(db_session, tmp_path, app, *, name: str, drafts=(*DRAFTS, *CONVERSATIONS)):
    """A version of ``drafts`` (the factories' items and three conversations); a tiny model
    built from their text in a model root (so the test holds the very tokenizer the worker
    loads); an admin's bearer headers and a worker."""
    project, admin, _ = approved_project(db_session, drafts=drafts, name=name)
    version = freezing.create_version(
        session=db_session, project=project, name="v", f=VersionFilter(), actor=admin,
        eval_fraction=0.2,
    )  # fmt: skip
    texts = [
        m["content"]
        for _link, rev in versions.pinned(db_session, version.id)
        for m in render_messages(ItemContent.from_row(rev.snapshot))
    ]
    model = build_tiny(texts, tmp_path / "models" / "tiny-local", vocab_size=400)
    app.state.settings.model_roots = [tmp_path / "models"]
    headers = {"Authorization": f"Bearer {make_token(db_session, scope='user', owner=admin)}"}
    raw = tokens.create_token(
        session=db_session, name="w", scope="worker", owner=None, actor=None
    ).raw
    db_session.commit()
    return version, admin, str(model), headers, _worker(app, raw)


def _contents(db_session, version_id: int) -> dict[int, ItemContent]:
    return {
        link.item_id: ItemContent.from_row(rev.snapshot)
        for link, rev in versions.pinned(db_session, version_id, "train")
    }


def test_a_check_goes_before_an_older_job_and_shows_the_loss_mask(
    app, client, db_session, tmp_path
):
    version, admin, model, headers, worker = _setup(db_session, tmp_path, app, name="Checked")
    params = JobParams(max_seq_len=256, **SMALL)
    job = jobs.launch(
        session=db_session, version_id=version.id, base_model=model, params=params, actor=admin,
        model_roots=[tmp_path / "models"],
    )  # fmt: skip
    db_session.commit()
    body = {"dataset_version_id": version.id, "base_model": model, "params": params.model_dump()}
    asked = client.post(f"{API_ROOT}/preflights", headers=headers, json=body)
    assert asked.status_code == 202, asked.text
    check_id = asked.json()["id"]
    assert asked.json()["status"] == "queued" and asked.json()["report"] is None

    serve("http://testserver", "unused", once=True, client=worker)

    db_session.expire_all()
    row, ran = db_session.get(Preflight, check_id), db_session.get(Job, job.id)
    assert row.status == "succeeded", row.error
    assert ran.status == "succeeded", ran.error
    assert row.finished_at <= ran.started_at  # the check went first, though asked for later
    answer = client.get(f"{API_ROOT}/preflights/{check_id}", headers=headers).json()
    report = PreflightReport.model_validate(answer["report"])

    # The example: the first conversation of the training split (multi-turn masks first).
    contents = _contents(db_session, version.id)
    conversations = [i for i, c in contents.items() if c.kind == "conversation"]
    example = report.example
    assert example.rule == "first_conversation" and example.item_id == conversations[0]
    tokenizer = AutoTokenizer.from_pretrained(model)
    encoded = encode_example(tokenizer, contents[example.item_id], max_seq_len=256)
    assert [t.id for t in example.tokens] == encoded.input_ids
    assert [t.loss for t in example.tokens] == [label != IGNORE for label in encoded.labels]
    assert example.loss_tokens == sum(label != IGNORE for label in encoded.labels) > 0
    assert any(not t.loss for t in example.tokens)  # the prompt is context
    joined = "".join(t.text for t in example.tokens)
    assert joined == tokenizer.decode(
        encoded.input_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    assert "等于" in joined and "\ufffd" not in joined  # characters split into bytes come whole

    # The counts, the template and the pace.
    assert report.chat_template == "default"  # the tiny model is built with the default
    assert report.counts.items == version.train_count == len(contents)
    assert report.counts.learnable == report.counts.encoded == len(contents)
    timing = report.timing
    assert timing.timed_steps == 3 and timing.total_steps == 2  # the job's max_steps
    assert timing.seconds_per_step > 0
    assert answer["report"]["timing"]["estimated_seconds"] == timing.total_steps * (
        timing.seconds_per_step
    )
    assert report.device.kind == "cpu" and report.memory.source == "none"

    # The launch form's panel shows the same tokens, the loss-carrying ones highlighted.
    login(client, admin.email)
    panel = client.get(f"/jobs/preflights/{check_id}", headers={"HX-Request": "true"}).text
    spans = re.findall(r'<span class="tok( loss)?" title="(\d+)">', panel)
    assert [int(i) for _, i in spans] == encoded.input_ids
    assert [bool(loss) for loss, _ in spans] == [t.loss for t in example.tokens]
    assert "hx-trigger" not in panel  # done: no more polling


def test_a_failing_check_answers_the_jobs_sentence_and_the_worker_goes_on(
    app, client, db_session, tmp_path
):
    version, admin, _model, headers, worker = _setup(db_session, tmp_path, app, name="Offline")
    hub = "example-org/no-such-model"
    job = jobs.launch(
        session=db_session, version_id=version.id, base_model=hub,
        params=JobParams(**SMALL), actor=admin,
    )  # fmt: skip
    db_session.commit()
    body = {"dataset_version_id": version.id, "base_model": hub, "params": SMALL}
    check_id = client.post(f"{API_ROOT}/preflights", headers=headers, json=body).json()["id"]

    serve("http://testserver", "unused", once=True, client=worker)

    db_session.expire_all()
    row, ran = db_session.get(Preflight, check_id), db_session.get(Job, job.id)
    assert row.status == "failed" and row.report == {}
    assert "Could not load the base model 'example-org/no-such-model'" in row.error
    # The worker went on to the job, which failed with the very same sentence.
    assert ran.status == "failed" and ran.error == row.error
    answer = client.get(f"{API_ROOT}/preflights/{check_id}", headers=headers).json()
    assert answer["status"] == "failed" and answer["error"] == row.error


def test_the_panel_shows_item_text_with_markup_escaped(app, client, db_session, tmp_path):
    version, admin, model, headers, worker = _setup(
        db_session, tmp_path, app, name="Markup", drafts=MARKUP
    )
    body = {"dataset_version_id": version.id, "base_model": model, "params": SMALL}
    check_id = client.post(f"{API_ROOT}/preflights", headers=headers, json=body).json()["id"]
    serve("http://testserver", "unused", once=True, client=worker)
    db_session.expire_all()
    row = db_session.get(Preflight, check_id)
    assert row.status == "succeeded", row.error
    report = PreflightReport.model_validate(row.report)
    assert report.example.rule == "first_item"  # no conversation in this version
    joined = "".join(t.text for t in report.example.tokens)
    assert "<script>alert(" in joined

    login(client, admin.email)
    panel = client.get(f"/jobs/preflights/{check_id}", headers={"HX-Request": "true"}).text
    assert "<script" not in panel and "&lt;script&gt;alert(" in _shown(panel)
    # What the spans hold, unescaped and with the whitespace marks undone, is the example.
    assert html.unescape(_shown(panel)).replace("↵\n", "\n").replace("·", " ") == joined


def _shown(panel: str) -> str:
    """The text of the example's token spans, as sent (escaped)."""
    tokens = re.search(r'<div class="tokens" id="preflight-tokens">(.*?)</div>', panel, re.S)
    return "".join(re.findall(r"<span [^>]*>(.*?)</span>", tokens.group(1), re.S))


# A template of the model's own: ChatML-like role lines, the answer closed by EOS.
OWN_TEMPLATE = (
    "{%- for m in messages %}{{ '<|' + m['role'] + '|> ' + m['content'] }}"
    "{%- if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|assistant|> ' }}{% endif %}"
)


def test_a_dpo_check_shows_the_chosen_side_under_the_models_own_template(
    app, client, db_session, tmp_path
):
    drafts = []
    for n in range(3):  # each pair three times, told apart by a number in its last request
        for pair in PAIRS:
            values = pair.model_dump()
            if values["turns"]:
                values["turns"][-1]["content"] += f" ({n})"
                values["instruction"] = ""
            else:
                values["instruction"] += f" ({n})"
            drafts.append(ItemDraft(**values))
    version, admin, model, headers, worker = _setup(
        db_session, tmp_path, app, name="DPO check", drafts=[*DRAFTS, *drafts]
    )
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = OWN_TEMPLATE
    tokenizer.save_pretrained(model)
    params = {"objective": "dpo", "method": "lora", "max_seq_len": 128, **SMALL}
    body = {"dataset_version_id": version.id, "base_model": model, "params": params}
    check_id = client.post(f"{API_ROOT}/preflights", headers=headers, json=body).json()["id"]

    serve("http://testserver", "unused", once=True, client=worker)

    db_session.expire_all()
    row = db_session.get(Preflight, check_id)
    assert row.status == "succeeded", row.error
    report = PreflightReport.model_validate(row.report)
    assert report.objective == "dpo" and report.chat_template == "model"
    contents = _contents(db_session, version.id)
    pairs = [i for i, c in contents.items() if c.kind == "preference"]
    assert report.counts.items == len(contents) and report.counts.learnable == len(pairs)
    example = report.example
    assert example.side == "chosen" and example.rule == "first_conversation"
    assert example.item_id == next(i for i in pairs if contents[i].turns)
    pair = encode_pair(tokenizer, contents[example.item_id], max_seq_len=128)
    assert [t.id for t in example.tokens] == pair.chosen.input_ids
    assert [t.loss for t in example.tokens] == [label != IGNORE for label in pair.chosen.labels]
    joined = "".join(t.text for t in example.tokens)
    assert contents[example.item_id].output in joined and "<|assistant|> " in joined
    assert report.timing.total_steps == 2 and report.timing.timed_steps == 3


def test_token_texts_join_into_the_decoded_text(tiny_dir):
    """A character the byte-level tokenizer splits into several tokens comes whole, with the
    token that completes it; the tokens before show nothing, and none shows U+FFFD."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    text = "Name a colour: 蓝色, or 緑 \n\tok"
    ids = tokenizer(text)["input_ids"]
    texts = token_texts(tokenizer, ids)
    assert len(texts) == len(ids)
    assert "".join(texts) == tokenizer.decode(
        ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    assert "" in texts  # the first bytes of a split character
    assert not any("\ufffd" in t for t in texts)
    assert any("蓝" in t for t in texts) and any("\t" in t for t in texts)
