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
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from medcoop.hub.db.base import utcnow
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
    mark. The caller commits. Returns one :class:`Withdrawal` per denial.
    """
    org_id = current_tenant(session)
    if not isinstance(org_id, uuid.UUID):
        raise RuntimeError("consent is applied in the site's organisation")
    now = utcnow()
    done: list[Withdrawal] = []
    for entry in entries:
        if entry.site != str(site_id):
            raise ValueError("a consent entry names another site")
        if entry.pooling is Decision.DENY:
            patient_id = _mark_denied(session, org_id, site_id, entry.pseudonym, now)
            done.append(Withdrawal(entry.pseudonym, remove_studies(session, site_id, patient_id)))
        else:
            session.execute(
                update(Patient)
                .where(Patient.site_id == site_id, Patient.pseudonym == entry.pseudonym)
                .values(pooling_denied_at=None)
            )
    return done


def _mark_denied(
    session: Session, org_id: uuid.UUID, site_id: uuid.UUID, pseudonym: str, now: datetime
) -> uuid.UUID:
    patient = session.scalar(
        select(Patient).where(Patient.site_id == site_id, Patient.pseudonym == pseudonym)
    )
    if patient is None:
        patient = Patient(org_id=org_id, site_id=site_id, pseudonym=pseudonym)
        session.add(patient)
    if patient.pooling_denied_at is None:
        patient.pooling_denied_at = now
    session.flush()
    return patient.id


def remove_studies(session: Session, site_id: uuid.UUID, patient_id: uuid.UUID) -> int:
    """Remove one patient's studies at ``site_id`` and their summary contributions.

    Returns the number of studies removed.
    """
    org_id = current_tenant(session)
    assert isinstance(org_id, uuid.UUID)
    lock_site(session, site_id)  # as ingest does: a rebuild of the site waits for us
    studies = session.scalars(
        select(Study)
        .where(Study.site_id == site_id, Study.patient_id == patient_id)
        .with_for_update()
    ).all()
    if not studies:
        return 0
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
    for study in studies:
        facts = {name: getattr(study, name) for name in names}
        protocol, held = protocols.get(study.id), events.get(study.id, [])
        changes.dose.change(contributions(facts, protocol, held), [])
        changes.protocols.change(protocol_contributions(facts, protocol, held), [])
    for model in (IrradiationEventRow, UsageFact, RecordReceipt):
        session.execute(delete(model).where(among(session, model.study_id, ids)))
    session.execute(delete(Study).where(among(session, Study.id, ids)))
    changes.apply(session, org_id)
    return len(ids)
