"""Key files for the store's TUF roles: Ed25519, private keys PEM (PKCS #8, mode 0600).

A private key file is created with ``O_EXCL`` (never overwritten) and read back as a
securesystemslib :class:`~securesystemslib.signer.CryptoSigner`; its public half is a
small JSON file (the TUF key object with its key id) that the vendor hands to the
platform, or that the hub's root lists. Signatures are always made by python-tuf and
securesystemslib, never by code of ours.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Key, SSlibKey

from medcoop.store.tuf.errors import KeyFileError

__all__ = [
    "KeyPair",
    "default_keyid",
    "generate_key_files",
    "load_public_key",
    "load_signer",
    "public_key_json",
]


@dataclass(frozen=True, slots=True)
class KeyPair:
    """Where a new key's two files were written, and its TUF key id."""

    private_path: Path
    public_path: Path
    keyid: str


def _write_new(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} already exists: refusing to overwrite a key") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def public_key_json(key: Key) -> str:
    """Return the JSON text of a public key file (``{"keyid": …, "key": {…}}``)."""
    return json.dumps({"keyid": key.keyid, "key": key.to_dict()}, indent=2, sort_keys=True)


def generate_key_files(private_path: str | os.PathLike[str]) -> KeyPair:
    """Create a new Ed25519 key: ``private_path`` (0600) and ``<private_path>.pub``.

    Raises
    ------
    KeyFileError
        Either file already exists.
    """
    private = Path(private_path)
    public_path = private.with_name(private.name + ".pub")
    if public_path.exists():
        raise KeyFileError(f"{public_path} already exists: refusing to overwrite a key")
    secret = Ed25519PrivateKey.generate()
    pem = secret.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = SSlibKey.from_crypto(secret.public_key())
    _write_new(private, pem, 0o600)
    _write_new(public_path, public_key_json(key).encode() + b"\n", 0o644)
    return KeyPair(private, public_path, key.keyid)


def load_signer(path: str | os.PathLike[str]) -> CryptoSigner:
    """Return a signer for the private key file at ``path``.

    Raises
    ------
    KeyFileError
        The file is missing or is not an Ed25519 private key in PEM.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {type(exc).__name__}") from exc
    try:
        secret = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a PEM private key") from exc
    if not isinstance(secret, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return CryptoSigner(secret)


def load_public_key(path: str | os.PathLike[str]) -> Key:
    """Return the TUF public key in the file at ``path`` (written by :func:`generate_key_files`).

    Raises
    ------
    KeyFileError
        The file is missing, malformed, or its key id does not match its key.
    """
    try:
        body = json.loads(Path(path).read_text())
        key = Key.from_dict(str(body["keyid"]), dict(body["key"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a medcoop public key file") from exc
    if key.keyid != default_keyid(key):
        raise KeyFileError(f"{path}: the key id does not match the key")
    return key


def default_keyid(key: Key) -> str:
    """Return the key id TUF derives from ``key``: SHA-256 of its canonical JSON."""
    canonical = encode_canonical(key.to_dict()) or ""
    return hashlib.sha256(canonical.encode()).hexdigest()
