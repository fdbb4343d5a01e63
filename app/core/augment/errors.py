"""The one error the augmentation engine raises: a sentence a user (or an admin) can act on.

It has the shape of the web app's domain errors, a gettext message id with ``%(name)s``
placeholders plus the values, so a surface can re-raise it as its own ``InvalidInput`` without
this pure package importing the app.
"""

from __future__ import annotations

from typing import Any


class AugmentError(ValueError):
    """An augmentation that cannot run; ``message`` is marked with ``N_`` and formatted lazily."""

    def __init__(self, message: str, /, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    @property
    def text(self) -> str:
        """The English sentence, placeholders filled in."""
        return self.message % self.params if self.params else self.message
