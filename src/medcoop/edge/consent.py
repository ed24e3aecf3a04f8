"""The local consent list: patients who opted out of pooling, kept only as keyed pseudonyms.

The ledger feeds this list; an administrator can also use ``medcoop edge consent opt-out``.
No patient ID is stored: only ``SiteKey.patient_pseudonym(patient_id, issuer)``.
"""

from __future__ import annotations

from medcoop.deid.pseudonym import SiteKey
from medcoop.edge.store import EdgeStore, now_s

__all__ = ["ConsentList"]


class ConsentList:
    """Opt-outs by patient pseudonym, stored in the edge's database."""

    def __init__(self, store: EdgeStore, key: SiteKey) -> None:
        self.store = store
        self.key = key

    def pseudonym_of(self, patient_id: str, issuer: str = "") -> str:
        """Return the pseudonym under which a patient's choice is kept."""
        return self.key.patient_pseudonym(patient_id, issuer)

    def opt_out(self, patient_id: str, issuer: str = "") -> str:
        """Record that a patient opted out of pooling; return the stored pseudonym."""
        pseudonym = self.pseudonym_of(patient_id, issuer)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO consent (pseudonym, opted_out_at) VALUES (?, ?)",
                (pseudonym, now_s()),
            )
        return pseudonym

    def opt_in(self, patient_id: str, issuer: str = "") -> bool:
        """Withdraw an opt-out; return whether there was one."""
        pseudonym = self.pseudonym_of(patient_id, issuer)
        with self.store.transaction() as conn:
            cursor = conn.execute("DELETE FROM consent WHERE pseudonym = ?", (pseudonym,))
        return cursor.rowcount > 0

    def is_opted_out(self, pseudonym: str) -> bool:
        """Return whether the patient with this pseudonym opted out of pooling."""
        with self.store.reading() as conn:
            row = conn.execute("SELECT 1 FROM consent WHERE pseudonym = ?", (pseudonym,))
            return row.fetchone() is not None

    def count(self) -> int:
        """Return how many patients opted out."""
        with self.store.reading() as conn:
            return int(conn.execute("SELECT count(*) FROM consent").fetchone()[0])
