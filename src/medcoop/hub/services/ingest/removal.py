"""Removing a patient's pooled studies when they deny pooling, exactly.

A denial recorded at the edge reaches the hub as a consent entry. The hub then keeps the
denial on the patient (``pooling_denied_at``: ingest refuses their later records) and
removes every study of theirs it holds, with its events, usage facts and record receipts.
The dose summaries lose exactly the values those studies contributed, by the path a study
update takes (:class:`~medcoop.hub.services.analytics.summaries.SummaryChanges`: the old
contributions out, nothing in); the pooled blocks then read the changed cells, so every
benchmark and analytics answer from then on is as if the studies had never come. A later
permit clears the denial: new studies are pooled again, the removed ones are not restored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from medcoop.hub.db.base import new_id, utcnow
from medcoop.hub.db.bulk import among
from medcoop.hub.db.models import (
    IrradiationEventRow,
    Patient,
    RecordReceipt,
    Study,
    UsageFact,
)
from medcoop.hub.db.tenancy import current_tenant
from medcoop.hub.services.analytics.summaries import (
    EVENT_FACTS,
    SummaryChanges,
    contributions,
    lock_site,
    protocol_contributions,
)
from medcoop.ledger.entries import ConsentEntry, Decision

__all__ = ["Withdrawal", "apply_consent"]


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A denial applied at the hub: whose, and how many studies it removed."""

    pseudonym: str
    studies_removed: int


def apply_consent(
    session: Session, site_id: uuid.UUID, entries: Sequence[ConsentEntry]
) -> list[Withdrawal]:
    """Apply ``site_id``'s consent decisions, in order, in the session's tenant.

    A pooling denial marks the patient (creating the row if no study came yet, so that a
    record already on its way is refused) and removes their studies; a permit clears the
    mark. A batch is applied in a few statements, whatever its size, with the result of
    applying it entry by entry: every patient denied anywhere in it loses their studies,
    and each patient's last decision is the mark kept. The caller commits. Returns one
    :class:`Withdrawal` per denial (the first denial of a patient counts their studies).
    """
    org_id = current_tenant(session)
    if not isinstance(org_id, uuid.UUID):
        raise RuntimeError("consent is applied in the site's organisation")
    latest: dict[str, Decision] = {}
    for entry in entries:
        if entry.site != str(site_id):
            raise ValueError("a consent entry names another site")
        latest[entry.pseudonym] = entry.pooling
    denied_once = list(dict.fromkeys(e.pseudonym for e in entries if e.pooling is Decision.DENY))
    permitted = [p for p, d in latest.items() if d is Decision.PERMIT]
    if permitted:
        session.execute(
            update(Patient)
            .where(Patient.site_id == site_id, among(session, Patient.pseudonym, permitted))
            .values(pooling_denied_at=None)
        )
    if not denied_once:
        return []
    ids = _patients(session, org_id, site_id, denied_once)
    still_denied = [ids[p] for p in denied_once if latest[p] is Decision.DENY]
    if still_denied:
        session.execute(
            update(Patient)
            .where(among(session, Patient.id, still_denied), Patient.pooling_denied_at.is_(None))
            .values(pooling_denied_at=utcnow())
        )
    removed = remove_studies(session, site_id, list(ids.values()))
    done, counted = [], set()
    for entry in entries:
        if entry.pooling is Decision.DENY:
            first = entry.pseudonym not in counted
            counted.add(entry.pseudonym)
            count = removed.get(ids[entry.pseudonym], 0) if first else 0
            done.append(Withdrawal(entry.pseudonym, count))
    return done


def _patients(
    session: Session, org_id: uuid.UUID, site_id: uuid.UUID, pseudonyms: list[str]
) -> dict[str, uuid.UUID]:
    """Return the patient id of each pseudonym, creating the patients not seen yet."""
    found: dict[str, uuid.UUID] = {
        pseudonym: id_
        for pseudonym, id_ in session.execute(
            select(Patient.pseudonym, Patient.id).where(
                Patient.site_id == site_id, among(session, Patient.pseudonym, pseudonyms)
            )
        )
    }
    missing = [p for p in pseudonyms if p not in found]
    if missing:
        created = {p: new_id() for p in missing}
        now = utcnow()
        rows = [
            {"org_id": org_id, "id": id_, "site_id": site_id, "pseudonym": p,
             "first_seen_at": now}
            for p, id_ in created.items()
        ]
        session.execute(insert(Patient), rows)
        found.update(created)
    return found


def remove_studies(
    session: Session, site_id: uuid.UUID, patient_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Remove these patients' studies at ``site_id`` and their summary contributions.

    Returns the number of studies removed per patient (those with any).
    """
    org_id = current_tenant(session)
    assert isinstance(org_id, uuid.UUID)
    if not patient_ids:
        return {}
    lock_site(session, site_id)  # as ingest does: a rebuild of the site waits for us
    studies = session.scalars(
        select(Study)
        .where(Study.site_id == site_id, among(session, Study.patient_id, list(patient_ids)))
        .with_for_update()
    ).all()
    if not studies:
        return {}
    ids = [s.id for s in studies]
    protocols = dict(
        session.execute(
            select(UsageFact.study_id, UsageFact.performed_protocol).where(
                among(session, UsageFact.study_id, ids)
            )
        ).all()
    )
    events: dict[uuid.UUID, list[dict[str, object]]] = {}
    columns = [getattr(IrradiationEventRow, name) for name in EVENT_FACTS]
    for row in session.execute(
        select(IrradiationEventRow.study_id, *columns).where(
            among(session, IrradiationEventRow.study_id, ids)
        )
    ):
        events.setdefault(row[0], []).append(dict(zip(EVENT_FACTS, row[1:], strict=True)))
    names = Study.__table__.columns.keys()
    changes = SummaryChanges()
    removed: dict[uuid.UUID, int] = {}
    for study in studies:
        facts = {name: getattr(study, name) for name in names}
        protocol, held = protocols.get(study.id), events.get(study.id, [])
        changes.dose.change(contributions(facts, protocol, held), [])
        changes.protocols.change(protocol_contributions(facts, protocol, held), [])
        removed[study.patient_id] = removed.get(study.patient_id, 0) + 1
    for model in (IrradiationEventRow, UsageFact, RecordReceipt):
        session.execute(delete(model).where(among(session, model.study_id, ids)))
    session.execute(delete(Study).where(among(session, Study.id, ids)))
    changes.apply(session, org_id)
    return removed
