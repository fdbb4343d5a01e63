"""Each checker on edge cases: markdown, code fences, CJK, mixed scripts, empty text, whitespace,
case, and IFEval's quirks."""

from __future__ import annotations

import pytest

from app.core.constraints import check

LESS, LEAST = "less than", "at least"


def verdict(cid: str, response: str, **params):
    return check(cid, response, params)


def passed(cid: str, response: str, **params) -> bool:
    return verdict(cid, response, **params).passed


# --- length_constraints ------------------------------------------------------------------------

WORDS = "length_constraints:number_words"


@pytest.mark.parametrize(
    ("response", "count"),
    [
        ("这是一个测试。", 6),
        ("我喜欢 Python 和机器学习", 9),
        ("One, two; three-four!", 4),
        ("", 0),
        ("# Title\n\n* item one\n* item two\n", 5),
        ("```python\nprint('hi')\n```", 3),
        ("trailing spaces   \n\n", 2),
    ],
)
def test_number_words_counts(response, count):
    assert verdict(WORDS, response, num_words=1, relation=LEAST).args["count"] == count
    assert passed(WORDS, response, num_words=count + 1, relation=LESS)
    assert not passed(WORDS, response, num_words=count + 1, relation=LEAST)
    if count:
        assert passed(WORDS, response, num_words=count, relation=LEAST)
        assert not passed(WORDS, response, num_words=count, relation=LESS)


def test_number_words_message():
    v = verdict(WORDS, "One, two; three-four!", num_words=5, relation=LEAST)
    assert v.message == "Found {count} words; needs at least {limit}."
    assert v.args == {"count": 4, "limit": 5}
    assert v.explanation == "Found 4 words; needs at least 5."
    v = verdict(WORDS, "One two", num_words=5, relation=LESS)
    assert v.passed and v.explanation == "Found 2 words; needs fewer than 5."


@pytest.mark.parametrize(
    ("response", "count"),
    [("abc", 3), ("  abc  \n", 3), ("你好，世界", 5), ("", 0), ("a b", 3), ("😀", 1)],
)
def test_number_characters(response, count):
    cid = "length_constraints:number_characters"
    assert passed(cid, response, num_chars=count + 1, relation=LESS)
    assert passed(cid, response, num_chars=max(count, 1), relation=LEAST) is (count >= 1)
    assert verdict(cid, response, num_chars=1, relation=LEAST).args["count"] == count


@pytest.mark.parametrize(
    ("response", "count"),
    [
        ("", 0),
        ("Hello world", 1),
        ("Hi!!! There.", 2),
        ("今天天气很好。我们去公园吧！你去吗？", 3),
        ("他说：“你好。”然后走了。", 2),
        ("I like Python。它很好用！", 2),
        ("Dr. Smith is here. He said hi.", 2),
        ("- First point.\n- Second point.\n", 2),
    ],
)
def test_number_sentences(response, count):
    cid = "length_constraints:number_sentences"
    assert verdict(cid, response, num_sentences=1, relation=LEAST).args["count"] == count
    assert passed(cid, response, num_sentences=count + 1, relation=LESS)
    assert not passed(cid, response, num_sentences=count + 1, relation=LEAST)


PARAGRAPHS = "length_constraints:number_paragraphs"


def test_number_paragraphs_dividers():
    assert passed(PARAGRAPHS, "a\n***\nb", num_paragraphs=2)
    assert passed(PARAGRAPHS, "a *** b *** c", num_paragraphs=3)
    assert passed(PARAGRAPHS, "p1\n***\np2\n***\n   ", num_paragraphs=2)  # empty last part
    assert passed(PARAGRAPHS, "Some **bold** text", num_paragraphs=1)
    assert passed(PARAGRAPHS, "第一段。\n***\n第二段。", num_paragraphs=2)
    assert not passed(PARAGRAPHS, "a\n\nb", num_paragraphs=2)  # blank lines do not divide


def test_number_paragraphs_empty_middle_paragraph_fails():
    v = verdict(PARAGRAPHS, "a\n***\n***\nb", num_paragraphs=2)
    assert not v.passed
    assert v.explanation == "Paragraph 2 between *** dividers is empty."


def test_number_paragraphs_empty_response():
    v = verdict(PARAGRAPHS, "", num_paragraphs=1)
    assert not v.passed and v.args["count"] == 0


NTH = "length_constraints:nth_paragraph_first_word"


def test_nth_paragraph_first_word_case_and_punctuation():
    text = "Intro here.\n\nHaha, you got it.\n\nEnd."
    assert passed(NTH, text, num_paragraphs=3, nth_paragraph=2, first_word="HAHA")
    assert not passed(NTH, text, num_paragraphs=2, nth_paragraph=2, first_word="haha")
    v = verdict(NTH, text, num_paragraphs=3, nth_paragraph=2, first_word="intro")
    assert v.explanation == 'Paragraph 2 starts with "haha"; needs "intro".'


def test_nth_paragraph_quirk_indexes_raw_split():
    # IFEval counts non-empty paragraphs but indexes the raw split on "\n\n".
    v = verdict(NTH, "a\n\n\n\nb", num_paragraphs=2, nth_paragraph=2, first_word="b")
    assert not v.passed
    assert v.explanation == "Paragraph 2 is missing or empty."


def test_nth_paragraph_first_word_cjk():
    text = "第一段。\n\n我们今天去公园。\n\n结束。"
    assert passed(NTH, text, num_paragraphs=3, nth_paragraph=2, first_word="我们")
    assert not passed(NTH, text, num_paragraphs=3, nth_paragraph=2, first_word="你们")
    assert passed(NTH, "“我们走吧。”他说。", num_paragraphs=1, nth_paragraph=1, first_word="我们")
    mixed = "Intro\n\nPython是一种语言。"
    assert passed(NTH, mixed, num_paragraphs=2, nth_paragraph=2, first_word="python")


def test_nth_paragraph_empty_response():
    assert not passed(NTH, "", num_paragraphs=1, nth_paragraph=1, first_word="a")


# --- keywords ----------------------------------------------------------------------------------


def test_existence_substring_quirk_and_case():
    cid = "keywords:existence"
    assert passed(cid, "He won an award.", keywords=["war"])  # substring, as in IFEval
    assert passed(cid, "THE RIVER", keywords=["river"])
    assert passed(cid, "我喜欢机器学习", keywords=["机器学习"])
    assert passed(cid, "I write C++ daily.", keywords=["C++"])  # matched literally
    assert not passed(cid, "abc", keywords=["a.c"])
    v = verdict(cid, "only romance", keywords=["romance", "river"])
    assert not v.passed and v.explanation == 'Missing keywords: "river".'
    assert not passed(cid, "", keywords=["a"])


def test_frequency_counts_substrings():
    cid = "keywords:frequency"
    v = verdict(cid, "The award for the war.", keyword="war", frequency=2, relation=LEAST)
    assert v.passed and v.args["count"] == 2
    assert v.explanation == '"war" appears 2 times; needs at least 2.'
    assert (
        verdict(cid, "学习学习再学习", keyword="学习", frequency=1, relation=LEAST).args["count"]
        == 3
    )
    assert verdict(cid, "aaaa", keyword="aa", frequency=1, relation=LEAST).args["count"] == 2
    assert passed(cid, "", keyword="x", frequency=1, relation=LESS)


def test_forbidden_words_whole_words():
    cid = "keywords:forbidden_words"
    assert passed(cid, "Many awards were given.", forbidden_words=["award"])
    v = verdict(cid, "The Award.", forbidden_words=["award", "prize"])
    assert not v.passed and v.explanation == 'Forbidden words found: "award".'
    assert passed(cid, "", forbidden_words=["a"])
    assert passed(cid, "PythonX rocks", forbidden_words=["python"])  # \b, as in IFEval


def test_forbidden_words_cjk():
    cid = "keywords:forbidden_words"
    assert not passed(cid, "我不喜欢这个", forbidden_words=["喜欢"])
    assert not passed(cid, "我喜欢Python语言", forbidden_words=["python"])
    assert passed(cid, "我喜欢Pythonic风格", forbidden_words=["python"])


def test_letter_frequency():
    cid = "keywords:letter_frequency"
    v = verdict(cid, "Banana", letter="A", let_frequency=3, let_relation=LEAST)
    assert v.passed and v.args == {"letter": "a", "count": 3, "limit": 3}
    assert passed(cid, "", letter="a", let_frequency=1, let_relation=LESS)
    assert passed(cid, "中文没有字母", letter="a", let_frequency=1, let_relation=LESS)


# --- detectable_format -------------------------------------------------------------------------

JSON = "detectable_format:json_format"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ('```json\n{"a": 1}\n```', True),
        ("```JSON\n[1, 2]\n```", True),
        ('```\n{"a": 1}\n```', True),
        ('  {"a": 1}   \n', True),
        ('{"名字": "张三"}', True),
        ('"just a string"', True),  # any JSON value passes, as in IFEval
        ('Here is JSON: {"a": 1}', False),
        ('```python\n{"a": 1}\n```', False),
        ("", False),
    ],
)
def test_json_format(response, expected):
    assert passed(JSON, response) is expected


def test_json_format_message():
    v = verdict(JSON, "{oops}")
    assert not v.passed and v.message == "The response is not valid JSON: {error}."
    assert v.args["error"]


BULLETS = "detectable_format:number_bullet_lists"


@pytest.mark.parametrize(
    ("response", "count"),
    [
        ("* a\n* b\n- c", 3),
        ("**bold** line\n* a", 1),
        ("1. one\n2. two", 0),
        ("* a\n---\n* b", 3),  # a markdown rule starts with "-": IFEval counts it
        ("```\n- inside a fence\n```", 1),  # IFEval does not know code fences
        ("* 第一点\n* 第二点", 2),
        ("", 0),
        ("   * indented\n\t- tabbed", 2),
    ],
)
def test_number_bullet_lists(response, count):
    assert passed(BULLETS, response, num_bullets=max(count, 1)) is (count >= 1)
    assert verdict(BULLETS, response, num_bullets=1).args["count"] == count


@pytest.mark.parametrize(
    ("response", "count"),
    [("*a* and **b**", 2), ("** **", 0), ("*重点*内容", 1), ("*a\nb*", 0), ("", 0)],
)
def test_number_highlighted_sections(response, count):
    cid = "detectable_format:number_highlighted_sections"
    assert verdict(cid, response, num_highlights=1).args["count"] == count


def test_multiple_sections():
    cid = "detectable_format:multiple_sections"
    text = "Section 1\nfoo\nSection 2\nbar"
    assert passed(cid, text, section_spliter="Section", num_sections=2)
    assert not passed(cid, text, section_spliter="Section", num_sections=3)
    assert not passed(cid, text.lower(), section_spliter="Section", num_sections=1)
    assert passed(cid, "部分 1\n内容\n部分 2\n内容", section_spliter="部分", num_sections=2)
    assert passed(cid, "Part. 1 x", section_spliter="Part.", num_sections=1)
    assert not passed(cid, "Partx 1 x", section_spliter="Part.", num_sections=1)
    assert passed(cid, "see Section 3 above", section_spliter="Section", num_sections=1)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("<<标题>>\n正文", True),
        ("<<>>", False),
        ("<< >>", False),
        ("<<<a>>>", True),
        ("no title", False),
        ("", False),
    ],
)
def test_title(response, expected):
    assert passed("detectable_format:title", response) is expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("My answer is maybe.", True),
        ("my answer is yes.", False),
        ("我的回答：My answer is yes.", True),
        ("My answer is yes", False),
        ("", False),
    ],
)
def test_constrained_response(response, expected):
    assert passed("detectable_format:constrained_response", response) is expected


# --- detectable_content, punctuation -----------------------------------------------------------


def test_number_placeholders():
    cid = "detectable_content:number_placeholders"
    assert verdict(cid, "[姓名] [电话]", num_placeholders=1).args["count"] == 2
    assert verdict(cid, "[] and [link](url)", num_placeholders=1).args["count"] == 2  # quirk
    assert not passed(cid, "", num_placeholders=1)


def test_postscript():
    cid = "detectable_content:postscript"
    assert passed(cid, "Body.\np.s. thanks", postscript_marker="P.S.")
    assert passed(cid, "Body.\nPS: thanks", postscript_marker="PS:")
    assert not passed(cid, "Body.\nPSX thanks", postscript_marker="P.S")
    assert passed(cid, "正文。\n附言：谢谢", postscript_marker="附言：")
    v = verdict(cid, "", postscript_marker="P.P.S")
    assert not v.passed and v.explanation == 'No postscript starting with "P.P.S" found.'


def test_no_comma():
    cid = "punctuation:no_comma"
    v = verdict(cid, "a, b, c")
    assert not v.passed and v.explanation == "Found 2 commas."
    assert verdict(cid, "a, b").explanation == "Found 1 comma."  # counted nouns agree
    assert not passed(cid, "你好，世界")
    assert passed(cid, "Hello，world")  # no CJK: IFEval looks for "," only
    assert passed(cid, "")


# --- change_case -------------------------------------------------------------------------------

LOWER, UPPER = "change_case:english_lowercase", "change_case:english_capital"


def test_english_lowercase():
    assert passed(LOWER, "hello world, this is english text and nothing else.")
    assert not passed(LOWER, "bonjour tout le monde, je suis très content aujourd'hui")
    v = verdict(LOWER, "")
    assert not v.passed and v.explanation == "The response contains no lowercase letters."
    assert not passed(LOWER, "你好")
    assert verdict(LOWER, "Hello").explanation == "The response contains capital letters."


def test_english_capital():
    assert passed(UPPER, "HELLO WORLD, THIS IS ENGLISH TEXT AND NOTHING ELSE.")
    v = verdict(UPPER, "HELLO World")
    assert not v.passed and v.explanation == "The response contains lowercase letters."
    assert not passed(UPPER, "123")


def test_case_checkers_count_failed_detection_as_followed(monkeypatch):
    import app.core.constraints.case as case

    monkeypatch.setattr(case, "detect_language", lambda text: None)
    assert passed(LOWER, "lowercase")
    assert passed(UPPER, "CAPITALS")
    monkeypatch.setattr(case, "detect_language", lambda text: "fr")
    v = verdict(LOWER, "lowercase")
    assert not v.passed and v.explanation == 'Detected language "fr"; needs English.'


@pytest.mark.parametrize(
    ("response", "count"),
    [
        ("DON'T STOP", 3),
        ("WELL-KNOWN FACT", 2),
        ("I AM HERE", 3),
        ("我喜欢AI和ML", 2),
        ("NASA's plan", 1),
        ("", 0),
        ("**BOLD** text", 1),
    ],
)
def test_capital_word_frequency(response, count):
    cid = "change_case:capital_word_frequency"
    v = verdict(cid, response, capital_frequency=1, capital_relation=LEAST)
    assert v.args["count"] == count


# --- startend, combination ---------------------------------------------------------------------

END = "startend:end_checker"


def test_end_checker():
    assert passed(END, '"Thanks. Any other questions?"', end_phrase="Any other questions?")
    assert passed(END, "... ANY OTHER QUESTIONS?  \n", end_phrase="any other questions?")
    assert passed(END, "好的。还有其他问题吗？", end_phrase="还有其他问题吗？")
    v = verdict(END, "Any other questions? Bye.", end_phrase="Any other questions?")
    assert not v.passed
    assert v.explanation == 'The response does not end with "Any other questions?".'
    assert not passed(END, "", end_phrase="x")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ('"quoted"', True),
        ('  "quoted"\n', True),
        ('""', True),
        ('"', False),
        ("", False),
        ("“你好”", True),
        ("“Hello”", False),
        ("'single'", False),
    ],
)
def test_quotation(response, expected):
    assert passed("startend:quotation", response) is expected


TWO = "combination:two_responses"


def test_two_responses():
    assert passed(TWO, "A******B")
    v = verdict(TWO, "A\n******\nA ")
    assert not v.passed and v.explanation == "The two responses are identical."
    v = verdict(TWO, "******")
    assert not v.passed and v.args == {"count": 0}
    assert not passed(TWO, "")
    assert passed(TWO, "回答一\n******\n回答二")


def test_repeat_prompt():
    cid = "combination:repeat_prompt"
    assert passed(cid, "  write a poem. Here it is.", prompt_to_repeat="Write a poem.")
    assert passed(cid, "请写一首诗。\n春眠不觉晓……", prompt_to_repeat="请写一首诗。")
    assert not passed(cid, "Sure! Write a poem.", prompt_to_repeat="Write a poem.")
    assert not passed(cid, "", prompt_to_repeat="Write a poem.")


# --- language ----------------------------------------------------------------------------------

LANG = "language:response_language"


def test_response_language():
    chinese = "今天天气很好，我们一起去公园散步吧。"
    assert passed(LANG, chinese, language="zh")
    assert passed(LANG, chinese, language="zh-CN")
    assert not passed(LANG, chinese, language="en")
    v = verdict(LANG, "This is an English sentence about the weather.", language="fr")
    assert not v.passed
    assert v.explanation == 'Detected language "en"; needs "fr".'


def test_response_language_undetectable_counts_as_followed():
    v = verdict(LANG, "", language="en")
    assert v.passed and "could not be detected" in v.explanation
    assert passed(LANG, "12345 !!!", language="fr")
