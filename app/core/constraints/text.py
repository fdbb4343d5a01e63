"""Sentence splitting and word tokenizing for the checkers, offline and without data files.

``split_sentences`` ports the regex splitter ``split_into_sentences`` of IFEval's
``instructions_util.py`` (google-research/google-research, instruction_following_eval,
Apache-2.0), adds CJK sentence enders ``。！？`` for text with CJK characters, and folds fragments
without any word character (the extra ``!`` of ``Hi!!!``) into their neighbour, as NLTK's Punkt
tokenizer does; IFEval's ``count_sentences`` itself uses Punkt's English model, a data download.

``word_tokens`` ports NLTK's ``NLTKWordTokenizer`` (the tokenizer behind ``nltk.word_tokenize``,
NLTK Project, Apache-2.0), which IFEval's ``change_case:capital_word_frequency`` uses. Each CJK
character is a token of its own.

Both run in time linear in the text (a possessive quantifier where NLTK's pattern backtracks
quadratically, parts joined once where appending would copy), with the same results.
"""

from __future__ import annotations

import re

from app.core.cjk import CJK_CHAR, has_cjk

# --- sentences (after IFEval's split_into_sentences) ------------------------------------------

_ALPHA = "([A-Za-z])"
_PREFIXES = "(Mr|St|Mrs|Ms|Dr)[.]"
_SUFFIXES = "(Inc|Ltd|Jr|Sr|Co)"
_STARTERS = (
    r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s"
    r"|However\s|That\s|This\s|Wherever)"
)
_ACRONYMS = "([A-Z][.][A-Z][.](?:[A-Z][.])?)"
_WEBSITES = "[.](com|net|org|io|gov|edu|me)"
_DIGITS = "([0-9])"
_CJK_ENDERS = re.compile(r"([。！？]+[”’」』）)]*)")
_WORDISH = re.compile(r"\w")

_PRD, _STOP = "<prd>", "<stop>"

# (pattern, replacement) in IFEval's order; <prd> protects a dot, <stop> ends a sentence.
_SENTENCE_RULES: list[tuple[re.Pattern[str], object]] = [
    (re.compile(_PREFIXES), rf"\1{_PRD}"),
    (re.compile(_WEBSITES), rf"{_PRD}\1"),
    (re.compile(_DIGITS + "[.]" + _DIGITS), rf"\1{_PRD}\2"),
    (re.compile(r"\.{2,}"), lambda m: _PRD * len(m.group(0)) + _STOP),
]
_SENTENCE_RULES_2: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\s" + _ALPHA + "[.] "), rf" \1{_PRD} "),
    (re.compile(_ACRONYMS + " " + _STARTERS), rf"\1{_STOP} \2"),
    (re.compile(_ALPHA + "[.]" + _ALPHA + "[.]" + _ALPHA + "[.]"), rf"\1{_PRD}\2{_PRD}\3{_PRD}"),
    (re.compile(_ALPHA + "[.]" + _ALPHA + "[.]"), rf"\1{_PRD}\2{_PRD}"),
    (re.compile(" " + _SUFFIXES + "[.] " + _STARTERS), rf" \1{_STOP} \2"),
    (re.compile(" " + _SUFFIXES + "[.]"), rf" \1{_PRD}"),
    (re.compile(" " + _ALPHA + "[.]"), rf" \1{_PRD}"),
]


def ifeval_sentences(text: str) -> list[str]:
    """IFEval's ``split_into_sentences``, plus ``。！？`` as enders when the text has CJK."""
    text = (" " + text + "  ").replace("\n", " ")
    for pattern, repl in _SENTENCE_RULES:
        text = pattern.sub(repl, text)  # type: ignore[arg-type]
    if "Ph.D" in text:
        text = text.replace("Ph.D.", f"Ph{_PRD}D{_PRD}")
    for pattern, repl in _SENTENCE_RULES_2:
        text = pattern.sub(repl, text)
    for closing, moved in ((".”", "”."), ('."', '".'), ('!"', '"!'), ('?"', '"?')):
        text = text.replace(closing, moved)
    for ender in ".?!":
        text = text.replace(ender, ender + _STOP)
    if has_cjk(text):
        text = _CJK_ENDERS.sub(rf"\1{_STOP}", text)
    text = text.replace(_PRD, ".")
    sentences = [s.strip() for s in text.split(_STOP)]
    if sentences and not sentences[-1]:
        sentences = sentences[:-1]
    return sentences


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; fragments with no word character join their neighbour.

    Each sentence is gathered as a list of parts and joined once: appending to a string that a
    list holds copies it every time, which is quadratic on ``Hi`` and a million ``!``.
    """
    out: list[list[str]] = []
    pending: list[str] = []
    for sentence in ifeval_sentences(text):
        if _WORDISH.search(sentence):
            out.append([*pending, sentence])
            pending = []
        elif out:
            out[-1].append(sentence)
        else:
            pending.append(sentence)
    sentences = ["".join(parts) for parts in out]
    if "".join(pending):
        sentences.append("".join(pending))
    return sentences


def count_sentences(text: str) -> int:
    return len(split_sentences(text))


# --- words (after NLTK's NLTKWordTokenizer) ---------------------------------------------------

# (pattern, replacement, triggers): a rule runs only on text holding one of its triggers, a
# character every match contains (none: it always runs). A text of many tiny sentences ("p. p.")
# otherwise pays some thirty substitutions for each. A rule that puts spaces around single
# characters is a str.translate table instead (None for the pattern): the same text, without a
# Python call for every one of a million brackets.
_Rule = tuple[re.Pattern[str] | None, str | dict[int, str], frozenset[str]]


def _rules(*rules: tuple[str, str, str]) -> list[_Rule]:
    return [(re.compile(pattern), repl, frozenset(triggers)) for pattern, repl, triggers in rules]


def _spaced(chars: str, replacement: str = " {} ") -> _Rule:
    """``re.sub(f"[{chars}]", replacement with the match for {})``, as a translation."""
    return None, {ord(c): replacement.format(c) for c in chars}, frozenset(chars)


_STARTING_QUOTES = _rules(
    (r"([«“‘„]|[`]+)", r" \1 ", "«“‘„`"),
    (r'^"', r"``", '"'),
    (r"(``)", r" \1 ", "`"),
    (r"([ \(\[{<])(\"|\'{2})", r"\1 `` ", "\"'"),
    (r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 ", "'"),
)
_PUNCTUATION = [
    *_rules(
        # NLTK's ``([\]\)}>"'»”’ ]*)\s*$``, possessive: the class holds the space, so backtracking
        # between the two on a long run of spaces is quadratic, and it can never find another.
        (r"([^\.])(\.)([\]\)}>\"\'»”’ ]*+)\s*+$", r"\1 \2 \3 ", "."),
        (r"([:,])([^\d])", r" \1 \2", ":,"),
        (r"([:,])$", r" \1 ", ":,"),
        (r"\.{2,}", r" \g<0> ", "."),
    ),
    _spaced(";@#$%&"),
    _spaced("\u2012\u2013\u2014\u2015"),
    *_rules((r"([^\.])(\.)([\]\)}>\"\']*)\s*$", r"\1 \2\3 ", ".")),
    _spaced("?!"),
    *_rules((r"([^'])' ", r"\1 ' ", "'")),
    _spaced("*"),
    _spaced("][(){}<>"),
    *_rules((r"--", r" -- ", "-")),
]
_ENDING_QUOTES = [
    _spaced("»”’"),
    *_rules((r"''", " '' ", "'")),
    _spaced('"', " '' "),
    *_rules(
        (r"\s+", " ", ""),
        (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 ", "'"),
        (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 ", "'"),
    ),
]
# Under (?i) these letters match only themselves in either case (unlike i, k and s).
_CONTRACTIONS = _rules(
    *(
        (rf"(?i)\b({a})({b})\b", r" \1 \2 ", triggers)
        for a, b, triggers in (
            ("can", "not", "nN"),
            ("d", "'ye", "'"),
            ("gim", "me", "mM"),
            ("gon", "na", "nN"),
            ("got", "ta", "tT"),
            ("lem", "me", "mM"),
            ("more", "'n", "'"),
        )
    ),
    (r"(?i)\b(wan)(na)(?=\s)", r" \1 \2 ", "nN"),
    (r"(?i) ('t)(is)\b", r" \1 \2 ", "'"),
    (r"(?i) ('t)(was)\b", r" \1 \2 ", "'"),
)
_ROUGH_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def treebank_tokens(sentence: str) -> list[str]:
    """NLTK's word tokenizer on one sentence."""
    text = _apply(_STARTING_QUOTES + _PUNCTUATION, sentence)
    return _apply(_ENDING_QUOTES + _CONTRACTIONS, " " + text + " ").split()


def _apply(rules: list[_Rule], text: str) -> str:
    chars = set(text)
    for pattern, repl, triggers in rules:
        if not triggers or not triggers.isdisjoint(chars):
            changed = text.translate(repl) if pattern is None else pattern.sub(repl, text)
            if changed != text:
                text, chars = changed, set(changed)
    return text


def word_tokens(text: str) -> list[str]:
    """Like ``nltk.word_tokenize``, with a plain sentence split and CJK characters apart."""
    # Spaces around each CJK character, by a table of those present (a callback per character
    # would cost a Python call for each of a million).
    text = text.translate({ord(c): f" {c} " for c in set(text) if CJK_CHAR.match(c)})
    tokens: list[str] = []
    seen: dict[str, list[str]] = {}  # a sentence that comes again is tokenized once
    for sentence in _ROUGH_SENTENCE_END.split(text):
        if sentence.strip():
            if sentence not in seen:
                seen[sentence] = treebank_tokens(sentence)
            tokens.extend(seen[sentence])
    return tokens
