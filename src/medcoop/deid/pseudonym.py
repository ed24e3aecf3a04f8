"""Keyed pseudonyms, UID remapping and per-patient date shifts.

A plain hash of a patient ID can be reversed by anyone holding a list of IDs, so every
pseudonym here is an HMAC-SHA-256 under a per-site secret key that never leaves the edge.
UIDs are remapped to ``2.25.<decimal>`` (PS3.5 B.2) deterministically, so references
between objects still resolve after de-identification.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KEY_SIZE_BYTES", "SiteKey", "load_or_create_key"]

KEY_SIZE_BYTES = 32
_MAX_SHIFT_DAYS = 365


def load_or_create_key(path: str | os.PathLike[str], *, default_issuer: str = "") -> SiteKey:
    """Return the site key stored in ``path``, creating it (mode 0600) when absent.

    The file holds the key as hex. Creation is atomic (``O_EXCL``) so that two processes
    starting at once cannot end up with different keys. ``default_issuer`` is the site's
    Issuer of Patient ID for objects that do not carry one (see :class:`SiteKey`).
    """
    key_path = Path(path)
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(KEY_SIZE_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
    raw = key_path.read_text().strip()
    try:
        key = bytes.fromhex(raw)
    except ValueError as exc:
        raise ValueError(f"key file {key_path} does not hold a hex key") from exc
    if len(key) < 16:
        raise ValueError(f"key file {key_path} holds a key shorter than 128 bits")
    return SiteKey(key, default_issuer=default_issuer)


@dataclass(frozen=True, slots=True)
class SiteKey:
    """A site's secret: derives pseudonyms, remapped UIDs and date shifts.

    ``default_issuer`` stands for a missing Issuer of Patient ID: a modality that leaves
    it out of its dose report while the images carry the RIS's issuer would otherwise
    split one patient into two pseudonyms. IDs of different issuers never merge.
    """

    secret: bytes
    default_issuer: str = ""

    def __repr__(self) -> str:  # never print the secret
        return "SiteKey(<secret>)"

    def _mac(self, domain: str, value: str) -> bytes:
        message = domain.encode() + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def patient_pseudonym(self, patient_id: str, issuer: str = "") -> str:
        """Return the 64-hex-digit pseudonym of a patient (ID qualified by its issuer)."""
        qualifier = issuer.strip() or self.default_issuer.strip()
        return self._mac("patient", f"{qualifier}\x1f{patient_id.strip()}").hex()

    def pseudonym(self, domain: str, value: str) -> str:
        """Return a keyed pseudonym of ``value`` within ``domain`` (e.g. ``"device"``)."""
        return self._mac(domain, value).hex()

    def remap_uid(self, uid: str) -> str:
        """Return the ``2.25.`` UID that replaces ``uid`` (same input, same output)."""
        digest = self._mac("uid", uid.strip().rstrip("\x00"))
        # 128 bits as PS3.5 B.2 allows; at most 39 decimal digits, so 2.25.X fits in 64 chars.
        return f"2.25.{int.from_bytes(digest[:16], 'big')}"

    def date_shift_days(self, patient_pseudonym: str) -> int:
        """Return the number of days (negative, 1..365) to shift this patient's dates by."""
        digest = self._mac("dateshift", patient_pseudonym)
        return -(1 + int.from_bytes(digest[:4], "big") % _MAX_SHIFT_DAYS)
