"""The registry: every constraint by id, and the functions the app, exports and trainer call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import case, content, formats, keywords, language, length, startend
from .base import RELATION_ZH, ConstraintSpec, UnknownConstraintError, Verdict

_ORDER = [
    "length_constraints:number_words",
    "length_constraints:number_characters",
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
]


def _build() -> dict[str, ConstraintSpec]:
    modules = (length, keywords, formats, content, case, startend, language)
    specs = {spec.id: spec for module in modules for spec in module.SPECS}
    assert sorted(specs) == sorted(_ORDER), "registry order and modules disagree"
    return {cid: specs[cid] for cid in _ORDER}


REGISTRY: dict[str, ConstraintSpec] = _build()


def get_spec(constraint_id: str) -> ConstraintSpec:
    try:
        return REGISTRY[constraint_id]
    except (KeyError, TypeError):
        raise UnknownConstraintError(constraint_id) from None


def validate_params(constraint_id: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters, checked and normalised; raises ``ConstraintParamsError``."""
    return get_spec(constraint_id).validate(params)


def check(constraint_id: str, response: str, params: Mapping[str, Any] | None) -> Verdict:
    spec = get_spec(constraint_id)
    return spec.checker(response, **spec.validate(params))


def check_all(
    constraints: Iterable[Mapping[str, Any]], response: str
) -> list[tuple[Mapping[str, Any], Verdict]]:
    """Each ``{"id": ..., "params": {...}}`` with its verdict, in order.

    Raises ``UnknownConstraintError`` or ``ConstraintParamsError`` for a bad constraint.
    """
    return [(c, check(c["id"], response, c.get("params") or {})) for c in constraints]


def render_requirement(constraint_id: str, params: dict, lang: str) -> str:
    """The requirement as prompt text; ``lang`` starting with ``zh`` gives Chinese."""
    return get_spec(constraint_id).render(params, lang)


# --- form fields --------------------------------------------------------------------------------

PARAM_LABELS: dict[str, dict[str, str]] = {
    "relation": {"en": "Relation", "zh": "比较方式"},
    "let_relation": {"en": "Relation", "zh": "比较方式"},
    "capital_relation": {"en": "Relation", "zh": "比较方式"},
    "num_words": {"en": "Number of words", "zh": "词数"},
    "num_chars": {"en": "Number of characters", "zh": "字符数"},
    "num_sentences": {"en": "Number of sentences", "zh": "句子数"},
    "num_paragraphs": {"en": "Number of paragraphs", "zh": "段落数"},
    "nth_paragraph": {"en": "Paragraph number", "zh": "第几段"},
    "first_word": {"en": "First word", "zh": "首词"},
    "keywords": {"en": "Keywords", "zh": "关键词"},
    "keyword": {"en": "Keyword", "zh": "关键词"},
    "frequency": {"en": "Times", "zh": "次数"},
    "forbidden_words": {"en": "Forbidden words", "zh": "禁用词"},
    "letter": {"en": "Letter", "zh": "字母"},
    "let_frequency": {"en": "Times", "zh": "次数"},
    "num_bullets": {"en": "Number of bullet points", "zh": "项目符号条数"},
    "num_highlights": {"en": "Minimum highlighted sections", "zh": "最少突出显示部分数"},
    "section_spliter": {"en": "Section marker", "zh": "分节标记"},
    "num_sections": {"en": "Number of sections", "zh": "部分数"},
    "num_placeholders": {"en": "Minimum placeholders", "zh": "最少占位符数"},
    "postscript_marker": {"en": "Postscript marker", "zh": "附言标记"},
    "capital_frequency": {"en": "Number of all-capital words", "zh": "全大写单词数"},
    "end_phrase": {"en": "End phrase", "zh": "结尾短语"},
    "prompt_to_repeat": {"en": "Request to repeat", "zh": "需重复的请求"},
    "language": {"en": "Language", "zh": "语言"},
}

_TYPES = {"integer": "int", "string": "str", "array": "str_list"}


def param_fields(constraint_id: str) -> list[dict[str, Any]]:
    """One dict per parameter, in order, for a web form to build inputs from.

    Keys: ``name``, ``type`` (``int``, ``str``, ``str_list`` or ``choice``), ``required``,
    ``label`` (``{"en", "zh"}``) and, where they apply, ``min``/``max`` (numbers),
    ``min_length``/``max_length`` (text or list), ``choices`` (``[{"value", "label"}]``).
    """
    spec = get_spec(constraint_id)
    schema = spec.params_model.model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        field: dict[str, Any] = {
            "name": name,
            "type": _TYPES.get(prop.get("type", "string"), "str"),
            "required": name in required,
            "label": dict(PARAM_LABELS.get(name, {"en": name, "zh": name})),
        }
        for key, out in (
            ("minimum", "min"),
            ("maximum", "max"),
            ("minLength", "min_length"),
            ("maxLength", "max_length"),
            ("minItems", "min_length"),
            ("maxItems", "max_length"),
        ):
            if key in prop:
                field[out] = prop[key]
        if "enum" in prop:
            field["type"] = "choice"
            field["choices"] = [
                {"value": v, "label": {"en": v, "zh": RELATION_ZH.get(v, v)}} for v in prop["enum"]
            ]
        if name == "language":
            field["type"] = "choice"
            field["choices"] = [
                {"value": code, "label": {"en": en, "zh": zh}}
                for code, (en, zh) in language.LANGUAGES.items()
            ]
        fields.append(field)
    return fields
