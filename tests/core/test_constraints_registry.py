"""The registry's public API: ids, labels, parameter validation, rendering, form fields."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.cjk import has_cjk
from app.core.constraints import (
    N_,
    REGISTRY,
    ConstraintParamsError,
    ConstraintSpec,
    Plural,
    UnknownConstraintError,
    Verdict,
    check,
    check_all,
    get_spec,
    param_fields,
    render_requirement,
    validate_params,
)

IFEVAL_IDS = {
    "length_constraints:number_words",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:nth_paragraph_first_word",
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "detectable_format:json_format",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:title",
    "detectable_format:constrained_response",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "change_case:english_lowercase",
    "change_case:english_capital",
    "change_case:capital_word_frequency",
    "punctuation:no_comma",
    "startend:end_checker",
    "startend:quotation",
    "combination:two_responses",
    "combination:repeat_prompt",
    "language:response_language",
}

# Valid parameters for every id, with the expected English and Chinese renderings.
SAMPLES: dict[str, tuple[dict, str, str]] = {
    "length_constraints:number_words": (
        {"num_words": 100, "relation": "less than"},
        "Answer with less than 100 words.",
        "回答少于 100 个词。",
    ),
    "length_constraints:number_characters": (
        {"num_chars": 280, "relation": "at least"},
        "Answer with at least 280 characters.",
        "回答至少 280 个字符。",
    ),
    "length_constraints:number_sentences": (
        {"num_sentences": 3, "relation": "at least"},
        "Your response should contain at least 3 sentences.",
        "回答应包含至少 3 个句子。",
    ),
    "length_constraints:number_paragraphs": (
        {"num_paragraphs": 4},
        "There should be 4 paragraphs. Paragraphs are separated with the markdown divider: ***",
        "回答应包含 4 个段落，段落之间用 Markdown 分隔线 *** 分隔。",
    ),
    "length_constraints:nth_paragraph_first_word": (
        {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "However"},
        "There should be 3 paragraphs. Paragraphs and only paragraphs are separated with each "
        "other by two new lines as if it was '\\n\\n' in python. Paragraph 2 must start with "
        "word however.",
        "回答应包含 3 个段落，段落之间（且仅在段落之间）用两个换行符（即 Python 中的 '\\n\\n'）"
        "分隔。第 2 段必须以“however”开头。",
    ),
    "keywords:existence": (
        {"keywords": ["river", "romantic"]},
        'Include keywords "river", "romantic" in the response.',
        "回答中应包含关键词“river”、“romantic”。",
    ),
    "keywords:frequency": (
        {"keyword": "war", "frequency": 2, "relation": "less than"},
        'In your response, the word "war" should appear less than 2 times.',
        "在回答中，词语“war”应出现少于 2 次。",
    ),
    "keywords:forbidden_words": (
        {"forbidden_words": ["house"]},
        'Do not include keyword "house" in the response.',
        "回答中不得包含关键词“house”。",
    ),
    "keywords:letter_frequency": (
        {"letter": "e", "let_frequency": 5, "let_relation": "at least"},
        'In your response, the letter "e" should appear at least 5 times.',
        "在回答中，字母“e”应出现至少 5 次。",
    ),
    "detectable_format:json_format": (
        {},
        "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
        "整个输出应为 JSON 格式，可以使用 Markdown 代码标记，例如 ```。",
    ),
    "detectable_format:number_bullet_lists": (
        {"num_bullets": 3},
        "Your answer must contain exactly 3 bullet points. Use the markdown bullet points such "
        "as:\n* This is point 1.\n* This is point 2",
        "回答必须恰好包含 3 个项目符号要点，使用 Markdown 项目符号，例如：\n* 这是第 1 点。\n"
        "* 这是第 2 点",
    ),
    "detectable_format:number_highlighted_sections": (
        {"num_highlights": 2},
        "Highlight at least 2 sections in your answer with markdown, i.e. *highlighted section*.",
        "用 Markdown 在回答中突出显示至少 2 个部分，例如 *突出显示的部分*。",
    ),
    "detectable_format:multiple_sections": (
        {"section_spliter": "Section", "num_sections": 2},
        "Your response must have 2 sections. Mark the beginning of each section with Section X, "
        "such as:\nSection 1\n[content of section 1]\nSection 2\n[content of section 2]",
        "回答必须包含 2 个部分，每个部分的开头用“Section X”标出，例如：\nSection 1\n"
        "[第 1 部分的内容]\nSection 2\n[第 2 部分的内容]",
    ),
    "detectable_format:title": (
        {},
        "Your answer must contain a title, wrapped in double angular brackets, such as "
        "<<poem of joy>>.",
        "回答必须包含一个标题，用双尖括号括起来，例如 <<欢乐之诗>>。",
    ),
    "detectable_format:constrained_response": (
        {},
        'Answer with one of the following options: "My answer is yes.", "My answer is no.", '
        '"My answer is maybe."',
        '请从以下选项中选择一个作答："My answer is yes."、"My answer is no."、'
        '"My answer is maybe."',
    ),
    "detectable_content:number_placeholders": (
        {"num_placeholders": 2},
        "The response must contain at least 2 placeholders represented by square brackets, "
        "such as [address].",
        "回答必须包含至少 2 个用方括号表示的占位符，例如 [地址]。",
    ),
    "detectable_content:postscript": (
        {"postscript_marker": "P.S."},
        "At the end of your response, please explicitly add a postscript starting with P.S.",
        "请在回答末尾明确添加一段以“P.S.”开头的附言。",
    ),
    "change_case:english_lowercase": (
        {},
        "Your entire response should be in English, and in all lowercase letters. No "
        "capital letters are allowed.",
        "整个回答应使用英文，并且全部为小写字母，不允许出现大写字母。",
    ),
    "change_case:english_capital": (
        {},
        "Your entire response should be in English, and in all capital letters.",
        "整个回答应使用英文，并且全部为大写字母。",
    ),
    "change_case:capital_word_frequency": (
        {"capital_frequency": 3, "capital_relation": "less than"},
        "In your response, words with all capital letters should appear less than 3 times.",
        "在回答中，全部由大写字母组成的单词应出现少于 3 次。",
    ),
    "punctuation:no_comma": (
        {},
        "In your entire response, refrain from the use of any commas.",
        "整个回答中不得使用任何逗号。",
    ),
    "startend:end_checker": (
        {"end_phrase": "Any other questions?"},
        "Finish your response with this exact phrase Any other questions?. No other words "
        "should follow this phrase.",
        "请用这句话原样结束回答：Any other questions?。这句话之后不要再有其他内容。",
    ),
    "startend:quotation": (
        {},
        "Wrap your entire response with double quotation marks.",
        "用双引号把整个回答括起来。",
    ),
    "combination:two_responses": (
        {},
        "Give two different responses. Responses and only responses should be separated by "
        "6 asterisk symbols: ******.",
        "给出两个不同的回答。两个回答之间（且仅在回答之间）用 6 个星号分隔：******。",
    ),
    "combination:repeat_prompt": (
        {"prompt_to_repeat": "Write a poem."},
        "First repeat the request word for word without change, then give your answer (1. do "
        "not say any words or characters before repeating the request; 2. the request you need "
        "to repeat does not include this sentence)",
        "先一字不改地重复请求，再给出回答（1. 重复请求之前不要说任何字词或字符；"
        "2. 需要重复的请求不包括这句话）",
    ),
    "language:response_language": (
        {"language": "zh"},
        "Your ENTIRE response should be in Chinese language, no other language is allowed.",
        "整个回答必须使用中文，不允许使用其他语言。",
    ),
}


def test_registry_has_exactly_the_26_ids():
    assert len(REGISTRY) == 26
    assert set(REGISTRY) == IFEVAL_IDS | {"length_constraints:number_characters"}
    assert list(REGISTRY)[0] == "length_constraints:number_words"
    assert set(SAMPLES) == set(REGISTRY)


def test_specs_are_complete():
    for cid, spec in REGISTRY.items():
        assert isinstance(spec, ConstraintSpec) and spec.id == cid
        assert set(spec.label) == {"en", "zh"}
        assert spec.label["en"] and not has_cjk(spec.label["en"])
        assert has_cjk(spec.label["zh"])
        assert get_spec(cid) is spec


def test_unknown_id():
    with pytest.raises(UnknownConstraintError) as info:
        get_spec("keywords:nope")
    assert isinstance(info.value, ValueError)
    for call in (
        lambda: validate_params("x", {}),
        lambda: check("x", "", {}),
        lambda: render_requirement("x", {}, "en"),
        lambda: param_fields("x"),
        lambda: get_spec(None),
    ):
        with pytest.raises(UnknownConstraintError):
            call()


@pytest.mark.parametrize("cid", sorted(SAMPLES))
def test_render_both_languages(cid):
    params, english, chinese = SAMPLES[cid]
    assert render_requirement(cid, params, "en") == english
    assert render_requirement(cid, params, "zh") == chinese
    assert render_requirement(cid, params, "zh-CN") == chinese
    assert render_requirement(cid, params, "zh_Hant") == chinese
    assert render_requirement(cid, params, "fr") == english
    assert get_spec(cid).render(params, "zh") == chinese


def test_render_translates_only_relations():
    params = {"end_phrase": "at least"}
    assert render_requirement("startend:end_checker", params, "zh").startswith(
        "请用这句话原样结束回答：at least。"
    )
    assert render_requirement(
        "keywords:frequency", {"keyword": "{x}", "frequency": 1, "relation": "at least"}, "zh"
    ) == ("在回答中，词语“{x}”应出现至少 1 次。")


def test_render_validates_params():
    with pytest.raises(ConstraintParamsError):
        render_requirement("length_constraints:number_words", {"num_words": 5}, "en")


@pytest.mark.parametrize("cid", sorted(SAMPLES))
def test_sample_params_validate_and_check_on_any_text(cid):
    params = SAMPLES[cid][0]
    assert validate_params(cid, params) == validate_params(cid, validate_params(cid, params))
    for response in ("", "   \n", "Hello, world. **Bold** *it*", "这是一个测试。", "```\n{}\n```"):
        v = check(cid, response, params)
        assert isinstance(v.passed, bool)
        assert v.explanation  # the template formats with its args


def test_validation_errors_list_fields_and_messages():
    cases = [
        (
            "length_constraints:number_words",
            {"num_words": 5},
            [("relation", "This parameter is required.")],
        ),
        (
            "length_constraints:number_words",
            {"num_words": 5, "relation": "at most"},
            [("relation", "Input should be 'less than' or 'at least'")],
        ),
        (
            "length_constraints:number_words",
            {"num_words": 0, "relation": "at least"},
            [("num_words", "Input should be greater than or equal to 1")],
        ),
        (
            "length_constraints:number_words",
            {"num_words": True, "relation": "at least"},
            [("num_words", "Give a whole number.")],
        ),
        (
            "length_constraints:number_words",
            {"num_words": 5, "relation": "at least", "x": 1},
            [("x", "Unknown parameter.")],
        ),
        (
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"},
            [("nth_paragraph", "The paragraph number cannot exceed the number of paragraphs.")],
        ),
        (
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "two words"},
            [("first_word", "Give a single word, without spaces.")],
        ),
        (
            "keywords:existence",
            {"keywords": []},
            [("keywords", "List should have at least 1 item after validation, not 0")],
        ),
        (
            "keywords:existence",
            {"keywords": ["ok", "  "]},
            [("keywords.1", "String should have at least 1 character")],
        ),
        (
            "keywords:letter_frequency",
            {"letter": "ab", "let_frequency": 1, "let_relation": "at least"},
            [("letter", "String should have at most 1 character")],
        ),
        (
            "language:response_language",
            {"language": "xx"},
            [("language", "Unknown language code; use an ISO 639-1 code such as en or zh.")],
        ),
        ("punctuation:no_comma", {"extra": 1}, [("extra", "Unknown parameter.")]),
    ]
    for cid, params, expected in cases:
        with pytest.raises(ConstraintParamsError) as info:
            validate_params(cid, params)
        assert isinstance(info.value, ValueError)
        assert [(e["field"], e["message"]) for e in info.value.errors] == expected, cid


def test_params_must_be_an_object():
    with pytest.raises(ConstraintParamsError) as info:
        validate_params("punctuation:no_comma", ["not", "a", "dict"])
    assert info.value.errors == [{"field": "params", "message": "Parameters must be an object."}]
    assert validate_params("punctuation:no_comma", None) == {}


def test_validation_normalises():
    assert validate_params("keywords:existence", {"keywords": [" river ", "Mona Lisa"]}) == {
        "keywords": ["Mona Lisa", "river"]
    }
    assert validate_params("keywords:forbidden_words", {"forbidden_words": ["b", "a", "b"]}) == {
        "forbidden_words": ["a", "b"]
    }
    assert validate_params(
        "keywords:frequency", {"keyword": "  keyword ", "frequency": "3", "relation": "at least"}
    ) == {"keyword": "keyword", "frequency": 3, "relation": "at least"}
    assert (
        validate_params(
            "keywords:letter_frequency",
            {"letter": " T ", "let_frequency": 4, "let_relation": "less than"},
        )["letter"]
        == "t"
    )
    assert validate_params("language:response_language", {"language": "zh_CN"}) == {
        "language": "zh-cn"
    }
    assert (
        validate_params(
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": " Haha "},
        )["first_word"]
        == "haha"
    )


def test_none_values_count_as_not_given():
    # IFEval's published data lists every kwarg of every instruction, unused ones as null.
    kwargs = {
        "num_highlights": None,
        "relation": "less than",
        "num_words": 40,
        "keywords": None,
        "language": None,
    }
    assert validate_params("length_constraints:number_words", kwargs) == {
        "num_words": 40,
        "relation": "less than",
    }
    with pytest.raises(ConstraintParamsError) as info:
        validate_params(
            "length_constraints:number_words", {"num_words": None, "relation": "at least"}
        )
    assert info.value.errors == [{"field": "num_words", "message": "This parameter is required."}]


def test_spec_check_takes_keyword_params():
    spec = get_spec("keywords:frequency")
    v = spec.check("award war", keyword="war", frequency=2, relation="at least")
    assert v.passed and v.args["count"] == 2


def test_check_all_in_order():
    constraints = [
        {"id": "punctuation:no_comma", "params": {}},
        {
            "id": "length_constraints:number_words",
            "params": {"num_words": 3, "relation": "less than"},
        },
        {"id": "startend:quotation"},
    ]
    results = check_all(constraints, "hello, world")
    assert [c for c, _ in results] == constraints
    assert [v.passed for _, v in results] == [False, True, False]
    with pytest.raises(UnknownConstraintError):
        check_all([{"id": "nope", "params": {}}], "x")
    assert check_all([], "x") == []


def test_verdict_is_frozen_and_explains():
    v = Verdict(False, "Found {count} words; needs fewer than {limit}.", {"count": 7, "limit": 5})
    assert v.explanation == "Found 7 words; needs fewer than 5."
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.passed = True  # type: ignore[misc]
    assert N_("text") == "text"


@pytest.mark.parametrize("cid", sorted(SAMPLES))
def test_param_fields_describe_the_schema(cid):
    fields = param_fields(cid)
    model_fields = list(get_spec(cid).params_model.model_fields)
    assert [f["name"] for f in fields] == model_fields
    for f in fields:
        assert f["type"] in {"int", "str", "str_list", "choice"}
        assert f["required"] is True
        assert set(f["label"]) == {"en", "zh"} and has_cjk(f["label"]["zh"])
        if f["type"] == "int":
            assert f["min"] == 1 and f["max"] >= 1_000
        if f["type"] == "choice":
            assert f["choices"] and all(set(c["label"]) == {"en", "zh"} for c in f["choices"])


def test_param_fields_choices():
    relation = param_fields("length_constraints:number_words")[1]
    assert relation["name"] == "relation"
    assert relation["choices"] == [
        {"value": "less than", "label": {"en": "less than", "zh": "少于"}},
        {"value": "at least", "label": {"en": "at least", "zh": "至少"}},
    ]
    language = param_fields("language:response_language")[0]
    values = [c["value"] for c in language["choices"]]
    assert {"en", "zh", "fr", "ja"} <= set(values)
    for value in values:
        validate_params("language:response_language", {"language": value})
    assert param_fields("punctuation:no_comma") == []


# --- message extraction and purity --------------------------------------------------------------


def _extracted_messages() -> set[str]:
    from babel.messages.extract import extract_python

    messages = set()
    for path in Path("app/core/constraints").glob("*.py"):
        with path.open("rb") as fh:
            for _lineno, _func, message, _comments in extract_python(
                fh, ["N_", "ngettext"], [], {}
            ):
                # ngettext gives (singular, plural): both forms are catalog entries
                messages.update(message if isinstance(message, tuple) else [message])
    return messages


def test_every_verdict_message_is_extractable(monkeypatch):
    import app.core.constraints.case as case

    extracted = _extracted_messages()
    responses = [
        "",
        "Hello, world.",
        "HELLO WORLD",
        "hello world",
        "这是一个测试。",
        '"x"',
        "A******B",
        "A******A",
        "a\n***\n***\nb",
        "{}",
        "<<T>> [x] *h* P.S. hi",
        "Section 1 a Section 2 b",
        "My answer is yes.",
        "x\n\ny",
        "x\n\nhowever y",
    ]
    seen = set()
    for cid, (params, _en, _zh) in SAMPLES.items():
        for response in responses:
            message = check(cid, response, params).message
            seen.add(message)
            if isinstance(message, Plural):
                seen.add(message.singular)
    monkeypatch.setattr(case, "detect_language", lambda text: None)
    seen.add(check("change_case:english_lowercase", "abc", {}).message)
    assert len(seen) > 40
    assert seen <= extracted, seen - extracted


def test_no_bare_message_literals():
    # Every message template reaches Verdict through N_(), so Babel sees it.
    import ast

    wrapped = {"Verdict", "by_relation", "_counted", "_english"}
    for path in Path("app/core/constraints").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in wrapped:
                for arg in node.args:
                    bare = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    assert not bare, f"{path.name}:{node.lineno} message without N_()"


def test_core_constraints_import_no_web_or_db_modules():
    code = (
        "import sys, app.core.constraints as c; "
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'starlette', 'torch', 'transformers') "
        "if m in sys.modules]; "
        "extra = [m for m in sys.modules if m.startswith('app.') "
        "and not m.startswith('app.core')]; print(bad, extra)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[] []"
