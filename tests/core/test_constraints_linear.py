"""The linear rewrites of the checkers (issue 14, item 6) give what IFEval's regular
expressions gave: each is compared with the pattern it replaces, on the Self-Instruct seed tasks
(``$STUDIO_TEST_DATA/seed_tasks.jsonl``), on the seed tasks reshaped into bullet lists, titles,
placeholders and postscripts, and on many short random strings of the characters that matter.
The replaced patterns are quadratic, so the texts stay short here; tests/security/test_redos.py
runs the checkers on a megabyte."""

from __future__ import annotations

import json
import random
import re

import pytest

from app.core.cjk import CJK_CLASS, has_cjk
from app.core.constraints import check, content, formats, keywords, length, text
from app.core.formats import cleaning
from tests.conftest import TEST_DATA
from tests.dbs import IN_CI

# --- the patterns as they were ----------------------------------------------------------------


def old_bullets(response: str) -> int:
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes)


def old_titles(response: str) -> list[str]:
    return re.findall(r"<<[^\n]+>>", response)


def old_placeholders(response: str) -> int:
    return len(re.findall(r"\[.*?\]", response))


def old_postscript_pattern(marker: str) -> str:
    if marker == "P.P.S":
        return r"\s*p\.\s?p\.\s?s.*$"
    if marker == "P.S.":
        return r"\s*p\.\s?s\..*$"
    return r"\s*" + re.escape(marker.lower()) + r".*$"


def old_postscript(response: str, marker: str) -> bool:
    return bool(re.findall(old_postscript_pattern(marker), response.lower(), flags=re.MULTILINE))


def old_split_sentences(value: str) -> list[str]:
    out: list[str] = []
    pending = ""
    for sentence in text.ifeval_sentences(value):
        if re.search(r"\w", sentence):
            out.append(pending + sentence)
            pending = ""
        elif out:
            out[-1] += sentence
        else:
            pending += sentence
    if pending:
        out.append(pending)
    return out


def old_first_word(paragraph: str) -> str:
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    out = ""
    for letter in word:
        if letter in {".", ",", "?", "!", "'", '"'} or (out and text.CJK_CHAR.match(letter)):
            break
        out += letter.lower()
        if text.CJK_CHAR.match(letter):
            break
    return out


# NLTK's rules as the port had them: every rule on every sentence, each a regular expression.
def _old_rules(*pairs: tuple[str, str]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern), repl) for pattern, repl in pairs]


OLD_STARTING_QUOTES = _old_rules(
    (r"([«“‘„]|[`]+)", r" \1 "),
    (r'^"', r"``"),
    (r"(``)", r" \1 "),
    (r"([ \(\[{<])(\"|\'{2})", r"\1 `` "),
    (r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 "),
)
OLD_PUNCTUATION = _old_rules(
    (r"([^\.])(\.)([\]\)}>\"\'»”’ ]*)\s*$", r"\1 \2 \3 "),
    (r"([:,])([^\d])", r" \1 \2"),
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),
    (r"[;@#$%&]", r" \g<0> "),
    (r"[\u2012-\u2015]", r" \g<0> "),
    (r"([^\.])(\.)([\]\)}>\"\']*)\s*$", r"\1 \2\3 "),
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),
    (r"[*]", r" \g<0> "),
    (r"[\]\[\(\)\{\}\<\>]", r" \g<0> "),
    (r"--", r" -- "),
)
OLD_ENDING_QUOTES = _old_rules(
    (r"([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
)
OLD_CONTRACTIONS = _old_rules(
    *(
        (rf"(?i)\b({a})({b})\b", r" \1 \2 ")
        for a, b in (
            ("can", "not"),
            ("d", "'ye"),
            ("gim", "me"),
            ("gon", "na"),
            ("got", "ta"),
            ("lem", "me"),
            ("more", "'n"),
        )
    ),
    (r"(?i)\b(wan)(na)(?=\s)", r" \1 \2 "),
    (r"(?i) ('t)(is)\b", r" \1 \2 "),
    (r"(?i) ('t)(was)\b", r" \1 \2 "),
)


def old_treebank_tokens(sentence: str) -> list[str]:
    value = sentence
    for pattern, repl in OLD_STARTING_QUOTES + OLD_PUNCTUATION:
        value = pattern.sub(repl, value)
    value = " " + value + " "
    for pattern, repl in OLD_ENDING_QUOTES + OLD_CONTRACTIONS:
        value = pattern.sub(repl, value)
    return value.split()


def old_word_tokens(value: str) -> list[str]:
    value = text.CJK_CHAR.sub(lambda m: f" {m.group(0)} ", value)
    tokens: list[str] = []
    for sentence in text._ROUGH_SENTENCE_END.split(value):
        if sentence.strip():
            tokens.extend(old_treebank_tokens(sentence))
    return tokens


OLD_TAG = re.compile(
    r"<!--.*?-->|<!doctype[^<>]*>|</?(?:" + cleaning._HTML_ELEMENTS + r")(?=[\s/>])[^<>]*>",
    re.IGNORECASE | re.DOTALL,
)


def old_contains(keyword: str, response: str) -> bool:
    return re.search(re.escape(keyword), response, flags=re.IGNORECASE) is not None


def old_frequency(keyword: str, response: str) -> int:
    return len(re.findall(re.escape(keyword), response, flags=re.IGNORECASE))


def old_whole_word(word: str, response: str) -> bool:
    non_cjk_word = rf"[^\W{CJK_CLASS}]"
    if not (has_cjk(word) or has_cjk(response)):
        pattern = r"\b" + re.escape(word) + r"\b"
    elif has_cjk(word):
        pattern = re.escape(word)
    else:
        pattern = rf"(?<!{non_cjk_word}){re.escape(word)}(?!{non_cjk_word})"
    return re.search(pattern, response, flags=re.IGNORECASE) is not None


# --- texts ------------------------------------------------------------------------------------


def seed_texts() -> list[str]:
    path = TEST_DATA / "seed_tasks.jsonl"
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing")
        pytest.skip(f"no shared test data at {path}")
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        task = json.loads(line)
        texts.append(task["instruction"])
        for instance in task["instances"]:
            texts.extend([instance["input"], instance["output"]])
    return [t for t in texts if t]


def reshaped(texts: list[str]) -> list[str]:
    """The seed texts turned into what the checkers look for, with the spacing that matters."""
    rng = random.Random(0)
    out = []
    for value in texts:
        lines = value.split("\n")
        prefixes = ["* ", "- ", "  * ", "**", "*", "-", "\t- ", "", "", "<<", "[", "P.S. ", "p. s."]
        suffixes = [">>", "]", " >>", "", "", "!!!", '."   ', "..."]
        lines = [rng.choice(prefixes) + line + rng.choice(suffixes) for line in lines]
        separators = ["\n", "\n\n", "\n \n", "\n\t\n", "\r\n", " \n"]
        out.append("".join(line + rng.choice(separators) for line in lines))
    return out


ALPHABET = ["*", "-", " ", "\n", "\t", "\r", "\u3000", "[", "]", "<", ">", "!", ".", '"', "a"]
ALPHABET += ["p", "s", "P", "S", "中", "。", "”", "<!--", "-->", "<b>", "A", "?", "'", ";", "@"]
ALPHABET += ["\u2014", "(", "{", "»", "’", "`", "«", ":", ",", "1", "n't", "can", "not", "'s"]


def fuzz(count: int = 6_000, longest: int = 24) -> list[str]:
    rng = random.Random(1)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(0, longest))) for _ in range(count)]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    seeds = seed_texts()
    return seeds + reshaped(seeds) + fuzz()


# --- equivalence ------------------------------------------------------------------------------


def test_bullet_points_count_as_before(corpus):
    for value in corpus:
        assert formats.count_line_starts(value, "*") + formats.count_line_starts(
            value, "-"
        ) == old_bullets(value), value


def test_titles_are_found_as_before(corpus):
    for value in corpus:
        assert formats.titles(value) == old_titles(value), value


def test_placeholders_count_as_before(corpus):
    for value in corpus:
        assert content.count_placeholders(value) == old_placeholders(value), value


@pytest.mark.parametrize("marker", ["P.S.", "P.P.S", "Note:", "p.s", "*"])
def test_postscripts_are_found_as_before(corpus, marker):
    for value in corpus:
        new = content.check_postscript(value, postscript_marker=marker).passed
        assert new is old_postscript(value, marker), value


def test_sentences_split_as_before(corpus):
    for value in corpus:
        assert text.split_sentences(value) == old_split_sentences(value), value


def test_words_tokenize_as_before(corpus):
    for value in corpus:
        assert text.word_tokens(value) == old_word_tokens(value), value


def test_first_words_are_read_as_before(corpus):
    greek = ["ΟΔΟΣ. Σ", "ΣΑΣ", "中文 text", "“Hi” there", "'\"a.b"]
    for value in [*corpus, *greek]:
        if value.strip():
            assert length._first_word(value) == old_first_word(value), value


def test_html_is_stripped_as_before(corpus):
    for value in corpus:
        assert cleaning._strip_tags(value) == OLD_TAG.sub("", value), value


# Characters that re.IGNORECASE matches in surprising ways (Kelvin sign, long s, dotted and
# dotless i, final sigma, micro sign, titlecase digraphs, theta symbols), with CJK and boundaries.
CASES = list("aAkK\u212asS\u017fiI\u0130\u0131\u00df\u1e9e\u03c3\u03c2\u03a3\u00b5\u03bc")
CASES += list("\u039c\u01c5\u01c6\u01c4\u03b8\u03d1\u03f4\u4e2d\u3042_1 .-\n'")


def keyword_cases(corpus: list[str]) -> list[tuple[str, str]]:
    """(keyword, response) pairs: random ones over CASES, and words of the seed texts in them."""
    rng = random.Random(2)
    pairs = []
    for _ in range(1_500):
        keyword = "".join(rng.choices(CASES, k=rng.randint(1, 4))).strip() or "a"
        pairs.append((keyword, "".join(rng.choices(CASES, k=rng.randint(0, 30)))))
    for value in corpus[:600]:
        words = re.findall(r"\w+", value) or ["the"]
        for word in rng.sample(words, min(3, len(words))):
            pairs.append((word.upper() if rng.random() < 0.3 else word, value))
            pairs.append((word + " " + rng.choice(words), value))
    return pairs


@pytest.fixture(scope="module")
def keyword_pairs(corpus) -> list[tuple[str, str]]:
    return keyword_cases(corpus)


def test_keywords_are_found_and_counted_as_before(keyword_pairs):
    for keyword, response in keyword_pairs:
        table = keywords.folding(response, [keyword])
        folded = response if table is None else response.translate(table)
        assert keywords._contains(keyword, folded, table) is old_contains(keyword, response)
        count = check(
            "keywords:frequency",
            response,
            {"keyword": keyword, "frequency": 1, "relation": "at least"},
        ).args["count"]
        assert count == old_frequency(keyword, response), (keyword, response)


def test_forbidden_words_are_found_as_before(keyword_pairs):
    for word, response in keyword_pairs:
        found = check("keywords:forbidden_words", response, {"forbidden_words": [word]})
        assert (not found.passed) is old_whole_word(word, response), (word, response)


def test_folding_is_used_on_these_texts(keyword_pairs):
    # Most pairs take the fast path; the rest fall back to the patterns, which are IFEval's.
    folded = sum(keywords.folding(r, [k]) is not None for k, r in keyword_pairs)
    assert folded > 0.8 * len(keyword_pairs)


def test_without_the_case_tables_the_patterns_answer(monkeypatch, keyword_pairs):
    monkeypatch.setattr(keywords, "_EXTRA_CASES", None)
    for word, response in keyword_pairs[:1_000]:
        assert keywords.folding(response, [word]) is None
        found = check("keywords:forbidden_words", response, {"forbidden_words": [word]})
        assert (not found.passed) is old_whole_word(word, response)
