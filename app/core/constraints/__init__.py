"""The constraint registry (design §5): IFEval's 25 instruction types plus a character count.

Each constraint has IFEval's id and parameter names, a pydantic parameter schema, a label in
both UI languages, a pure checker returning a :class:`Verdict` and a rendering of the
requirement into English or Chinese prompt text. For text without CJK characters the verdicts
match IFEval's reference checkers (google-research ``instruction_following_eval``), quirks
included; see each module's docstring for the CJK rules and the few documented departures.

    >>> check("keywords:frequency", "award war", {"keyword": "war", "frequency": 2,
    ...                                            "relation": "at least"}).passed
    True
"""

from .base import (
    N_,
    ConstraintParamsError,
    ConstraintSpec,
    Plural,
    UnknownConstraintError,
    Verdict,
)
from .registry import (
    PARAM_LABELS,
    REGISTRY,
    check,
    check_all,
    get_spec,
    param_fields,
    render_requirement,
    validate_params,
)

__all__ = [
    "N_",
    "PARAM_LABELS",
    "REGISTRY",
    "ConstraintParamsError",
    "ConstraintSpec",
    "Plural",
    "UnknownConstraintError",
    "Verdict",
    "check",
    "check_all",
    "get_spec",
    "param_fields",
    "render_requirement",
    "validate_params",
]
