"""Secrets: bearer tokens stored as SHA-256, enrollment codes, argon2 password hashes.

Tokens are 256-bit random strings with a prefix naming their kind (``mcs_`` site,
``mcp_`` personal, ``mcw_`` web session, ``mca_`` app), so a leaked one is easy to
recognise in logs and secret scanners. Only their SHA-256 is stored: the token has
enough entropy that a fast hash cannot be brute-forced, unlike a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from medcoop.hub.db.models import TokenKind

__all__ = [
    "TOKEN_PREFIXES",
    "constant_time_equal",
    "hash_password",
    "hash_secret",
    "new_enrollment_code",
    "new_token",
    "normalise_code",
    "password_needs_rehash",
    "token_kind_of",
    "verify_password",
]

TOKEN_PREFIXES: dict[TokenKind, str] = {
    TokenKind.SITE: "mcs_",
    TokenKind.PERSONAL: "mcp_",
    TokenKind.SESSION: "mcw_",
    TokenKind.APP: "mca_",
}
_TOKEN_BYTES = 32
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by people
_CODE_GROUPS = 5
_CODE_GROUP_LEN = 5
_HASHER = PasswordHasher()


def new_token(kind: TokenKind) -> str:
    """Return a fresh bearer token of ``kind`` (prefix + 256 random bits, URL-safe)."""
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(_TOKEN_BYTES)


def token_kind_of(token: str) -> TokenKind | None:
    """Return the kind a token's prefix announces, or ``None`` for an unknown prefix."""
    for kind, prefix in TOKEN_PREFIXES.items():
        if token.startswith(prefix):
            return kind
    return None


def hash_secret(secret: str) -> str:
    """Return the hex SHA-256 of a high-entropy secret (token, code), as stored."""
    return hashlib.sha256(secret.strip().encode()).hexdigest()


def new_enrollment_code() -> str:
    """Return a one-time enrollment code people can type: 25 symbols (125 bits) in groups."""
    groups = (
        "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUP_LEN))
        for _ in range(_CODE_GROUPS)
    )
    return "-".join(groups)


def normalise_code(code: str) -> str:
    """Return an enrollment code as issued: upper case, grouping restored, spaces dropped."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    size = _CODE_GROUP_LEN
    return "-".join(compact[i : i + size] for i in range(0, len(compact), size))


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return whether ``password`` matches ``password_hash`` (``False`` for no hash)."""
    if not password_hash:
        # Spend the same time as a real check so that timing does not reveal unknown users.
        _HASHER.hash(password)
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """Return whether a stored hash uses weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)


def constant_time_equal(left: str, right: str) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(left.encode(), right.encode())
