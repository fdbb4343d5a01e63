"""Building blocks of the constraint registry (design §5): verdicts, specs and parameter models.

A constraint is a :class:`ConstraintSpec`: an id, a label in both UI languages, a pydantic model
for its parameters, a pure ``check(response, **params) -> Verdict`` and a rendering of the
requirement into prompt text in English or Chinese.

Verdict messages are English templates with ``{placeholders}``; each literal is wrapped in
:func:`N_` so Babel can extract it and the UI can translate it before formatting it with the
verdict's ``args``. A message whose words agree with a count ("Found 1 comma", "Found 2 commas")
is wrapped in :func:`ngettext` instead, which keeps both forms for the UI's ``ngettext``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError


def N_(s: str) -> str:  # noqa: N802 - the conventional name of gettext's no-op marker
    """Mark a message template for extraction without translating it here."""
    return s


class Plural(str):
    """A message template with a singular form besides the plural one (the string itself).

    ``count`` names the verdict argument that chooses the form: English uses ``singular`` when it
    is 1; the UI passes both forms to gettext's ``ngettext``, so every language gets its own rule.
    """

    singular: str
    count: str

    def __new__(cls, singular: str, plural: str, count: str = "count") -> Plural:
        message = super().__new__(cls, plural)
        message.singular = singular
        message.count = count
        return message

    def choose(self, args: Mapping[str, Any]) -> str:
        """The English form for these arguments."""
        return self.singular if args.get(self.count) == 1 else str(self)


def ngettext(singular: str, plural: str, count: str = "count") -> Plural:
    """Like :func:`N_` for a message with a singular and a plural form; nothing is translated here.

    Named after gettext's function so that Babel (``make i18n``) extracts both forms as one entry.
    """
    return Plural(singular, plural, count)


class ConstraintParamsError(ValueError):
    """Parameters that do not fit a constraint's schema; ``errors`` lists field and message."""

    def __init__(self, constraint_id: str, errors: list[dict[str, str]]):
        self.constraint_id = constraint_id
        self.errors = errors
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"Invalid parameters for {constraint_id}: {detail}")


class UnknownConstraintError(ValueError):
    """An id that is not in the registry."""

    def __init__(self, constraint_id: str):
        self.constraint_id = constraint_id
        super().__init__(f"Unknown constraint: {constraint_id!r}")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: pass/fail plus an English message template and its values."""

    passed: bool
    message: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        message = self.message
        if isinstance(message, Plural):
            message = message.choose(self.args)
        return message.format(**self.args)


# --- parameters --------------------------------------------------------------------------------

LESS_THAN = "less than"
AT_LEAST = "at least"
Relation = Literal["less than", "at least"]
RELATIONS: tuple[str, str] = (LESS_THAN, AT_LEAST)


class Params(BaseModel):
    """Base of every parameter model: unknown fields are errors, strings are kept as given."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """For constraints without parameters."""


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Give a whole number.")
    return value


Count = Annotated[int, BeforeValidator(_no_bool)]
"""A whole number; ``"5"`` from a form is accepted, ``True`` is not."""


def count_field(maximum: int, minimum: int = 1) -> Any:
    return Field(ge=minimum, le=maximum)


def compare(count: int, relation: str, limit: int) -> bool:
    """IFEval's two relations: ``less than`` is ``count < limit``, ``at least`` is ``>=``."""
    return count < limit if relation == LESS_THAN else count >= limit


def by_relation(relation: str, less_than: str, at_least: str) -> str:
    return less_than if relation == LESS_THAN else at_least


# --- specs -------------------------------------------------------------------------------------

Checker = Callable[..., Verdict]
Renderer = Callable[[dict[str, Any], str], str]


def is_zh(lang: str) -> bool:
    """Anything starting with ``zh`` (``zh``, ``zh-CN``, ``zh_Hant``) renders in Chinese."""
    return str(lang).strip().lower().startswith("zh")


@dataclass(frozen=True)
class ConstraintSpec:
    """One registry entry. ``check`` and ``render`` validate and normalise ``params`` first."""

    id: str
    label: Mapping[str, str]
    params_model: type[Params]
    checker: Checker
    renderer: Renderer

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ConstraintParamsError(
                self.id, [{"field": "params", "message": "Parameters must be an object."}]
            )
        # A None value means "not given" (IFEval's data lists every kwarg, unused ones as null).
        given = {name: value for name, value in params.items() if value is not None}
        try:
            model = self.params_model.model_validate(given)
        except ValidationError as exc:
            raise ConstraintParamsError(self.id, _errors(exc)) from None
        return model.model_dump()

    def check(self, response: str, **params: Any) -> Verdict:
        return self.checker(response, **self.validate(params))

    def render(self, params: Mapping[str, Any] | None, lang: str) -> str:
        return self.renderer(self.validate(params), "zh" if is_zh(lang) else "en")


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err.get("loc", ())]
        name = ".".join(loc) if loc else "params"
        message = err.get("msg", "Invalid value.")
        # "Value error, ..." is pydantic's prefix for ValueError raised in validators.
        message = message.removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            message = "Unknown parameter."
        elif err.get("type") == "missing":
            message = "This parameter is required."
        out.append({"field": name, "message": message})
    return out


# --- rendering helpers -------------------------------------------------------------------------

RELATION_ZH = {LESS_THAN: "少于", AT_LEAST: "至少"}


def rel(relation: str, lang: str) -> str:
    """The relation as words of the prompt language."""
    return RELATION_ZH[relation] if lang == "zh" else relation


def quoted(items: list[str] | tuple[str, ...], lang: str) -> str:
    """``"a", "b"`` in English, ``“a”、“b”`` in Chinese."""
    if lang == "zh":
        return "、".join(f"“{item}”" for item in items)
    return ", ".join(f'"{item}"' for item in items)


def templates(en: str, zh: str, **fixed: Any) -> Renderer:
    """A renderer from two ``str.format`` templates over the parameters.

    Relations are translated for Chinese; ``fixed`` adds constant values.
    """

    def render(params: dict[str, Any], lang: str) -> str:
        values = dict(fixed)
        for name, value in params.items():
            values[name] = rel(value, lang) if name.endswith("relation") else value
        return (zh if lang == "zh" else en).format(**values)

    return render
