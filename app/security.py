"""Password hashing (argon2) and random secrets stored as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()
# Verifying against this keeps the time of a failed login independent of whether
# the email exists, so timing does not enumerate accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

TOKEN_PREFIX_LEN = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_api_token() -> str:
    """A token with a recognisable head: ``st_`` + 43 url-safe characters (256 bits)."""
    return "st_" + secrets.token_urlsafe(32)


def token_prefix(token: str) -> str:
    return token[:TOKEN_PREFIX_LEN]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def generate_password() -> str:
    return secrets.token_urlsafe(12)
