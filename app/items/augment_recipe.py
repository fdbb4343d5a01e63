"""How rule-based augmentation rewrites one item: the recipe (operation, rate, copies, seed,
fields) checked into sentences a form can show, and each copy's rewritten fields.

Seeds: copy ``k`` (0-based) of item ``i`` is rewritten with ``seed + i * SEED_STRIDE + k``. The
same seed over the same items writes the same copies in every process and after any resume; two
copies of one task never share a seed (``k`` stays below the stride); each draft records its
own seed, which with the operation and the rate rebuilds its text from its source."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from app.core.augment import (
    DEFAULT_RATE,
    OPERATIONS,
    AugmentError,
    augment,
    constraint_words,
)
from app.core.augment.engine import BAD_RATE, UNKNOWN_OPERATION
from app.core.augment.languages import normalise
from app.db import MAX_INTEGER
from app.errors import InvalidInput
from app.i18n import N_
from app.models import Item

FIELDS = ("instruction", "input")
MAX_COPIES = 5
SEED_STRIDE = 7  # above MAX_COPIES: the copies of one item never share a seed


@dataclass(frozen=True)
class Recipe:
    """How each item is augmented; ``seed`` None picks one when the task is queued."""

    operation: str
    rate: float = DEFAULT_RATE
    copies: int = 1
    seed: int | None = None
    fields: tuple[str, ...] = ("instruction",)

    def checked(self) -> Recipe:
        """This recipe with its seed chosen, or InvalidInput naming the field at fault."""
        if self.operation not in OPERATIONS:
            raise InvalidInput(
                UNKNOWN_OPERATION,
                operation=self.operation,
                errors={"operation": N_("Choose an augmentation.")},
            )
        if isinstance(self.rate, bool) or not (
            isinstance(self.rate, int | float) and 0 < self.rate <= 1
        ):
            raise InvalidInput(BAD_RATE, rate=self.rate, errors={"rate": N_("Above 0, at most 1.")})
        if isinstance(self.copies, bool) or self.copies not in range(1, MAX_COPIES + 1):
            raise InvalidInput(
                N_("Each item gets 1 to %(max)s new drafts; %(copies)s is out of range."),
                max=MAX_COPIES,
                copies=self.copies,
                errors={"copies": N_("From 1 to 5.")},
            )
        if "instruction" not in self.fields or not set(self.fields) <= set(FIELDS):
            raise InvalidInput(
                N_(
                    "Augmentation rewrites the instruction, and the input when asked; nothing else."
                ),
                errors={"fields": N_("Choose the instruction, and the input if you like.")},
            )
        seed = random_seed() if self.seed is None else self.seed
        if isinstance(seed, bool) or not 0 <= seed <= MAX_INTEGER:
            raise InvalidInput(
                N_("The seed is a whole number from 0 to %(max)s."),
                max=MAX_INTEGER,
                errors={"seed": N_("From 0 to 2147483647.")},
            )
        fields = tuple(name for name in FIELDS if name in self.fields)
        return replace(self, rate=float(self.rate), seed=seed, fields=fields)


def random_seed() -> int:
    return secrets.randbelow(MAX_INTEGER + 1)


def copy_seed(seed: int, item_id: int, copy: int) -> int:
    """The seed of copy ``copy`` (0-based) of item ``item_id``."""
    return seed + item_id * SEED_STRIDE + copy


def language_of(item: Item) -> str | None:
    """``en`` or ``zh`` for an item augmentation can rewrite, else None."""
    try:
        return normalise(item.language or "")
    except AugmentError:
        return None


def rewrite(item: Item, recipe: Recipe, copy: int, language: str) -> dict[str, str]:
    """Copy ``copy`` of ``item`` under a checked ``recipe``: the fields it changed, with
    their new text (empty when nothing could change). The words the item's constraints name
    are kept, as are code, placeholders, URLs, numbers and negations."""
    protected = constraint_words(item.constraints or [])
    seed = copy_seed(recipe.seed, item.id, copy)
    changes = {}
    for name in recipe.fields:
        text = getattr(item, name) or ""
        new = augment(
            text,
            language=language,
            operation=recipe.operation,
            seed=seed,
            rate=recipe.rate,
            protected_words=protected,
        )
        if new != text:
            changes[name] = new
    return changes
