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
import struct
import unicodedata
from collections.abc import Iterable, Mapping
from itertools import groupby

from app.core.cjk import CJK_CHAR, split_words

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

_LANE_BYTES = 16  # 128-bit lanes hold a*x + b < p**2 < 2**122 without spilling into the next lane
_CHUNK_LANES = 256  # shingles hashed per packed integer; bounds the precomputed b lanes to 256 KiB


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), casefold, collapse whitespace: formatting makes no difference."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _is_cjk(token: str) -> bool:
    return CJK_CHAR.match(token) is not None


def shingles(text: str) -> set[int]:
    """Unsigned 64-bit hashes of the text's word 3-grams and CJK character 2-grams.

    Tokens come from :func:`app.core.cjk.split_words`; each run of CJK tokens or of other words is
    shingled on its own, and a run shorter than its n gives one shingle, so any text with a word
    has at least one shingle. Punctuation is dropped, so "你好，世界" is one CJK run.
    """
    grams: set[str] = set()
    for is_cjk, group in groupby(split_words(normalise(text)), key=_is_cjk):
        run = list(group)
        n = CJK_NGRAM if is_cjk else WORD_NGRAM
        # A word 3-gram never equals a CJK 2-gram: word tokens hold no CJK characters.
        grams.update(" ".join(run[i : i + n]) for i in range(max(1, len(run) - n + 1)))
    return {_hash64(gram.encode()) for gram in grams}


def exact_jaccard(a: set[int], b: set[int]) -> float:
    """|a ∩ b| / |a ∪ b|; 0.0 when both are empty (nothing to compare is never a duplicate)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def similarity(text_a: str, text_b: str) -> float:
    """Exact Jaccard similarity of two texts' shingles, to rank LSH candidates precisely."""
    return exact_jaccard(shingles(text_a), shingles(text_b))


def _demo_parts(demo: object) -> tuple[str, str]:
    if isinstance(demo, Mapping):
        return demo.get("input", ""), demo.get("output", "")
    return demo.input, demo.output  # type: ignore[attr-defined]


def item_text(instruction: str, input: str = "", output: str = "", demos: Iterable = ()) -> str:
    """The canonical text to index: instruction, input, output, then each demo's input and output.

    Demos are ``Demo`` models or the ``{"input", "output"}`` dicts stored in the database; blank
    parts are left out so an empty input does not change the text.
    """
    parts = [instruction, input, output]
    for demo in demos:
        parts.extend(_demo_parts(demo))
    return "\n".join(part for part in parts if part.strip())


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


def _lanes(values: list[int]) -> int:
    """Pack values into one integer, one per 128-bit lane, lowest lane first."""
    return int.from_bytes(struct.pack("<" + "Q8x" * len(values), *values), "little")


class MinHasher:
    """MinHash with the universal family h_i(x) = (a_i·x + b_i) mod (2**61 − 1).

    A per-shingle loop in Python costs ~1.5 ms for 100 words, so each permutation runs on all
    shingles at once: they are packed into 128-bit lanes of one big integer, and one multiply, a
    Mersenne fold and a conditional subtract give every lane's exact (a·x + b) mod p in C.
    """

    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1) -> None:
        self.num_perm = num_perm
        self.seed = seed
        self.coefficients = tuple(_coefficients(seed, i) for i in range(num_perm))
        self.empty_signature = (EMPTY_SLOT,) * num_perm
        ones = _lanes([1] * _CHUNK_LANES)
        self._chunk_ones = ones
        self._chunk_primes = ones * MERSENNE_PRIME
        self._chunk_bs = tuple(b * ones for _, b in self.coefficients)

    def signature(self, shingle_hashes: Iterable[int]) -> tuple[int, ...]:
        """Each permutation's minimum over the shingles; ``empty_signature`` when there are none."""
        values = [x % MERSENNE_PRIME for x in set(shingle_hashes)]
        if not values:
            return self.empty_signature
        minima: tuple[int, ...] | None = None
        for start in range(0, len(values), _CHUNK_LANES):
            chunk = self._chunk_minima(values[start : start + _CHUNK_LANES])
            minima = chunk if minima is None else tuple(map(min, minima, chunk))
        assert minima is not None
        return minima

    jaccard_estimate = staticmethod(jaccard_estimate)

    def _chunk_minima(self, values: list[int]) -> tuple[int, ...]:
        lanes = _lanes(values)
        mask = (1 << (128 * len(values))) - 1
        ones = self._chunk_ones & mask
        primes = self._chunk_primes & mask
        size = _LANE_BYTES * len(values)
        minima = []
        for (a, _), b_lanes in zip(self.coefficients, self._chunk_bs, strict=True):
            v = a * lanes + (b_lanes & mask)
            # 2**61 ≡ 1 (mod p): low 61 bits + high bits is congruent and at most 2p.
            v = (v & primes) + ((v >> 61) & primes)
            # Lanes ≥ p have bit 61 set after adding 1; subtract p from exactly those.
            v -= (((v + ones) >> 61) & ones) * MERSENNE_PRIME
            minima.append(_min_lane(v, size))
        return tuple(minima)


def _min_lane(packed: int, size: int) -> int:
    """Smallest lane value (< 2**61), found without turning every lane into a Python int."""
    raw = (packed << 3).to_bytes(size, "little")  # << 3 puts each value's top 8 bits in byte 7
    top_bytes = raw[7::_LANE_BYTES]
    # The smallest top byte is usually 0–3, and find() is memchr: a few C scans beat min()'s
    # per-byte comparisons. Usually one lane holds it; ties are decoded and compared in full.
    for lowest in range(256):
        index = top_bytes.find(lowest)
        if index != -1:
            break
    best = MERSENNE_PRIME << 3
    while index != -1:
        start = index * _LANE_BYTES
        best = min(best, int.from_bytes(raw[start : start + 8], "little"))
        index = top_bytes.find(lowest, index + 1)
    return best >> 3


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
