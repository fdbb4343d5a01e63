"""Near-duplicate detection for instruction items: shingles, MinHash signatures and LSH band keys.

The database stores one row per ``(project_id, band, key) → item_id`` from :func:`band_keys`, so
finding the items similar to a draft is ``BANDS`` indexed equality lookups; the few candidates are
then ranked by :func:`similarity` (exact Jaccard of shingles).

Every value here is persisted, so everything is derived from blake2b and fixed constants, never
from Python's per-process salted ``hash()`` or from ``random`` (whose algorithms may change between
Python versions). Changing the shingle scheme, the hash family or the banding makes the stored keys
stale: bump ``INDEX_VERSION`` and rebuild the band-key table.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from app.core.cjk import CJK_CLASS

INDEX_VERSION = 1
MERSENNE_PRIME = (1 << 61) - 1
NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
# Word runs use word 3-grams (Broder's w-shingling): English 2-grams such as "of the" or "write a"
# are so common that unrelated instructions would share many of them. CJK runs use character
# 2-grams: most Chinese words are two characters, so bigrams behave like word unigrams-plus-order,
# and a one-character edit in a 20-character sentence costs 2 of 19 shingles (3-grams: 3 of 18).
WORD_NGRAM = 3
CJK_NGRAM = 2
# The minimum over no shingles: outside every permutation's range [0, p), so it never equals a
# real minimum. An empty (or punctuation-only) text has this in every slot and gets no band keys.
EMPTY_SLOT = MERSENNE_PRIME

_BATCH = 64  # items per numpy chunk: 64 × ~80 shingles × 64 permutations stays in cache
_P = np.uint64(MERSENNE_PRIME)
_LOW32, _LOW29 = np.uint64((1 << 32) - 1), np.uint64((1 << 29) - 1)
_U3, _U29, _U32, _U61 = (np.uint64(n) for n in (3, 29, 32, 61))


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), casefold, collapse whitespace: formatting makes no difference."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


_HASHER_64 = hashlib.blake2b(digest_size=8)
# A CJK run (adjacent CJK characters) or one word of other \w characters, in order.
_TOKEN = re.compile(f"([{CJK_CLASS}]+)|[^\\W{CJK_CLASS}]+")


def _grams(text: str) -> set[str]:
    """Word 3-grams and CJK character 2-grams, each run of one script shingled on its own.

    Tokens are those of :func:`app.core.cjk.split_words` (each CJK character alone, other runs of
    ``\\w``); a run of one script ends where the other begins, punctuation does not end it (so
    "你好，世界" is one CJK run), and a run shorter than its n gives one shingle. Grams join their
    tokens with a space: a word 3-gram never equals a CJK 2-gram.
    """
    grams: set[str] = set()
    words: list[str] = []
    cjk = ""
    for match in _TOKEN.finditer(normalise(text)):
        run = match.group(1)
        if run is not None:
            if words:
                _add_runs(grams, words, WORD_NGRAM)
                words = []
            cjk += run
        else:
            if cjk:
                _add_runs(grams, cjk, CJK_NGRAM)
                cjk = ""
            words.append(match.group())
    if cjk:
        _add_runs(grams, cjk, CJK_NGRAM)
    if words:
        _add_runs(grams, words, WORD_NGRAM)
    return grams


def _add_runs(grams: set[str], run: list[str] | str, n: int) -> None:
    if len(run) <= n:
        grams.add(" ".join(run))
    else:  # the n-grams, as zip gives them (no slice per gram)
        grams.update(map(" ".join, zip(*(run[i:] for i in range(n)), strict=False)))


def _digests(grams: set[str]) -> bytes:
    out = []
    for gram in grams:
        h = _HASHER_64.copy()  # copying a fresh hasher is cheaper than constructing one
        h.update(gram.encode())
        out.append(h.digest())
    return b"".join(out)


def shingles(text: str) -> set[int]:
    """Unsigned 64-bit hashes (blake2b) of the text's word 3-grams and CJK character 2-grams."""
    return set(shingle_array(text).tolist())


def shingle_array(text: str) -> np.ndarray:
    """:func:`shingles` as an array, without building Python ints (the bulk path)."""
    return np.frombuffer(_digests(_grams(text)), dtype="<u8")


def grams(text: str) -> set[str]:
    """The shingles themselves, unhashed: for exact Jaccard between a few thousand texts, where
    hashing each gram would cost more than comparing the strings."""
    return _grams(text)


def exact_jaccard(a: set, b: set) -> float:
    """|a ∩ b| / |a ∪ b|; 0.0 when both are empty (nothing to compare is never a duplicate)."""
    shared = len(a & b)
    union = len(a) + len(b) - shared  # without building the union
    return shared / union if union else 0.0


def similarity(text_a: str, text_b: str) -> float:
    """Exact Jaccard similarity of two texts' shingles, to rank LSH candidates precisely."""
    return exact_jaccard(shingles(text_a), shingles(text_b))


def _demo_parts(demo: object) -> tuple[str, str]:
    if isinstance(demo, Mapping):
        return demo.get("input", ""), demo.get("output", "")
    return demo.input, demo.output  # type: ignore[attr-defined]


def item_text(
    instruction: str,
    input: str = "",
    output: str = "",
    demos: Iterable = (),
    *,
    system: str = "",
    turns: Iterable = (),
    rejected: str = "",
) -> str:
    """The canonical text to index: instruction, input, output (a pair's chosen response) and a
    pair's rejected response, then each demo's input and output; a conversation's every turn in
    its place; the system prompt last.

    Demos and turns are models or the dicts stored in the database; blank parts are left out so
    an empty input does not change the text (nor a missing system prompt an older item's).
    """
    turns = list(turns)
    if turns:
        parts = [*map(_turn_content, turns), input]
        # A conversation's first and last turns are its instruction and output; turns ending
        # with the user are a pair's prompt, which its responses answer.
        if _turn_role(turns[-1]) == "user":
            parts.append(output)
    else:
        parts = [instruction, input, output]
    parts.append(rejected)
    for demo in demos:
        parts.extend(_demo_parts(demo))
    parts.append(system)
    return "\n".join(part for part in parts if part.strip())


def _turn_role(turn: object) -> str:
    if isinstance(turn, Mapping):
        return str(turn.get("role", ""))
    return str(turn.role)  # type: ignore[attr-defined]


def _turn_content(turn: object) -> str:
    if isinstance(turn, Mapping):
        return turn.get("content", "")
    return turn.content  # type: ignore[attr-defined]


def jaccard_estimate(sig_a: tuple[int, ...], sig_b: tuple[int, ...]) -> float:
    """Share of equal slots, an unbiased Jaccard estimate; 0.0 if either text was empty."""
    if len(sig_a) != len(sig_b):
        raise ValueError("Signatures of different lengths cannot be compared.")
    if not sig_a or sig_a[0] == EMPTY_SLOT or sig_b[0] == EMPTY_SLOT:
        return 0.0
    return sum(x == y for x, y in zip(sig_a, sig_b, strict=True)) / len(sig_a)


def _coefficients(seed: int, index: int) -> tuple[int, int]:
    digest = hashlib.blake2b(f"minhash:{seed}:{index}".encode(), digest_size=16).digest()
    a = int.from_bytes(digest[:8], "little") % (MERSENNE_PRIME - 1) + 1  # a ≠ 0
    b = int.from_bytes(digest[8:], "little") % MERSENNE_PRIME
    return a, b


class MinHasher:
    """MinHash with the universal family h_i(x) = (a_i·x + b_i) mod (2**61 − 1).

    A per-shingle loop in Python costs ~1 ms for 100 words, so the products run in numpy over
    many items at once. a·x needs 122 bits; it is split into 32-bit halves whose partial products
    fit in 64 bits, and 2**61 ≡ 1 (mod p) folds them back (see :func:`_mulmod_add`). The values are
    exactly those of the textbook formula: the stored keys do not depend on this arithmetic.
    """

    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1) -> None:
        self.num_perm = num_perm
        self.seed = seed
        self.coefficients = tuple(_coefficients(seed, i) for i in range(num_perm))
        self.empty_signature = (EMPTY_SLOT,) * num_perm
        a = np.array([a for a, _ in self.coefficients], dtype=np.uint64)[:, None]
        self._a_low, self._a_high = a & _LOW32, a >> _U32
        self._b = np.array([b for _, b in self.coefficients], dtype=np.uint64)[:, None]

    def signature(self, shingle_hashes: Iterable[int] | np.ndarray) -> tuple[int, ...]:
        """Each permutation's minimum over the shingles; ``empty_signature`` when there are none."""
        return self.signatures([shingle_hashes])[0]

    def signatures(self, batch: Sequence[Iterable[int] | np.ndarray]) -> list[tuple[int, ...]]:
        """:meth:`signature` of many shingle sets, in chunks small enough to stay in cache."""
        arrays = [_as_array(hashes) for hashes in batch]
        out: list[tuple[int, ...]] = []
        for start in range(0, len(arrays), _BATCH):
            out.extend(self._chunk(arrays[start : start + _BATCH]))
        return out

    jaccard_estimate = staticmethod(jaccard_estimate)

    def _chunk(self, arrays: list[np.ndarray]) -> list[tuple[int, ...]]:
        sizes = [len(a) for a in arrays]
        filled = [i for i, size in enumerate(sizes) if size]
        out = [self.empty_signature] * len(arrays)
        if not filled:
            return out
        values = _mulmod_add(self._a_low, self._a_high, np.concatenate(arrays) % _P, self._b)
        starts = np.cumsum([0, *sizes[:-1]])[filled]
        minima = np.minimum.reduceat(values, starts, axis=1).T.tolist()
        for index, row in zip(filled, minima, strict=True):
            out[index] = tuple(row)
        return out


def _as_array(hashes: Iterable[int] | np.ndarray) -> np.ndarray:
    if isinstance(hashes, np.ndarray):
        return hashes.astype(np.uint64, copy=False)
    return np.fromiter(set(hashes), dtype=np.uint64)


def _mulmod_add(a_low, a_high, x: np.ndarray, b) -> np.ndarray:
    """(a·x + b) mod p for every (a, b) row and x column; a, x, b < p = 2**61 − 1.

    a·x = a_hi·x_hi·2**64 + (a_hi·x_lo + a_lo·x_hi)·2**32 + a_lo·x_lo, with 2**64 ≡ 8 and
    mid·2**32 ≡ (mid >> 29) + (mid mod 2**29)·2**32. Every term is below 2**62 and their sum
    below 2**64, so nothing wraps.
    """
    x_low, x_high = x & _LOW32, x >> _U32
    mid = a_high * x_low
    mid += a_low * x_high
    low = a_low * x_low
    total = (a_high * x_high) << _U3
    total += mid >> _U29
    total += (mid & _LOW29) << _U32
    total += low & _P
    total += low >> _U61
    total += b
    total = (total & _P) + (total >> _U61)
    total = (total & _P) + (total >> _U61)
    total[total >= _P] -= _P
    return total


def band_keys(signature: tuple[int, ...], bands: int = BANDS) -> list[int]:
    """One signed 64-bit key per band (fits a PostgreSQL BIGINT); no keys for an empty text.

    Two items share band ``i``'s key when all its rows agree, so with (bands, rows) = (16, 4) a
    pair of Jaccard s is a candidate with probability 1 − (1 − s**4)**16 (see
    :func:`candidate_probability`): 0.12 at s = 0.3, 0.64 at 0.5, 0.9998 at 0.8.
    """
    if len(signature) % bands:
        raise ValueError(
            f"A signature of {len(signature)} slots does not split into {bands} bands."
        )
    if not signature or signature[0] == EMPTY_SLOT:
        return []
    rows = len(signature) // bands
    row_format = struct.Struct(f"<{rows + 1}Q")
    keys = []
    for band in range(bands):
        # The band number is hashed in, so equal rows in different bands give different keys.
        data = row_format.pack(band, *signature[band * rows : (band + 1) * rows])
        digest = hashlib.blake2b(data, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def candidate_probability(jaccard: float, bands: int = BANDS, rows: int = ROWS) -> float:
    """Probability that a pair with this Jaccard similarity shares at least one band key."""
    return 1 - (1 - jaccard**rows) ** bands


DEFAULT_HASHER = MinHasher()


def text_band_keys(text: str) -> list[int]:
    """Band keys of a text with the default hasher: what the band-key table stores per item."""
    return band_keys(DEFAULT_HASHER.signature(shingles(text)))


def text_band_keys_many(texts: Sequence[str]) -> list[list[int]]:
    """:func:`text_band_keys` of many texts (the import's follow-up pass)."""
    signatures = DEFAULT_HASHER.signatures([shingle_array(text) for text in texts])
    return [band_keys(signature) for signature in signatures]
