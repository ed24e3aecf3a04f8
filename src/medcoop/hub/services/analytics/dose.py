"""Hub analytics over stored studies: DRL comparisons, peer benchmarks, utilization.

The numbers come from :mod:`medcoop.analytics` (pure); this module only reads the hub's
tables and turns rows back into :class:`~medcoop.records.StudyRecord` objects. Reads for
the caller's own data go through the caller's tenant-scoped session. Peer benchmarks need
every tenant's data of one exam type, so :func:`peer_benchmark` reads with a session
pooled for ``Purpose.PEER_BENCHMARK`` (it sees the summaries, blocks, devices and sites
of every tenant, never a study) and returns only k-anonymous aggregates: counts and
quartiles of groups of at least 5 sites and 10 studies, never a row, a site or an
organisation.

Peer benchmarks read the dose summaries that ingest keeps (one sketch per site × device
× exam type × metric × month, :mod:`medcoop.hub.services.analytics.summaries`), through
the pooled blocks compacted from them, never the studies, so a query costs the same
whatever the size of the pool; periods are whole UTC months.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import numpy as np
from sqlalchemy import String, cast, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from medcoop.analytics.benchmarks import (
    CellCounts,
    PeerBenchmark,
    PrivacyPolicy,
    benchmark_site,
)
from medcoop.analytics.drl import (
    DoseObservation,
    DrlComparison,
    compare_with_drls,
    load_national_drls,
    observations_from_record,
)
from medcoop.analytics.exam_types import EXAM_TYPES, classify_record
from medcoop.analytics.query import HistoryPoint, StudyQuery, dose_history, sort_rows, study_row
from medcoop.analytics.utilization import (
    DeviceUtilization,
    OpeningHours,
    device_utilization,
    interval_from_record,
)
from medcoop.hub.db import tenancy
from medcoop.hub.db.access import Purpose
from medcoop.hub.db.models import Device, IrradiationEventRow, Patient, Site, Study, UsageFact
from medcoop.hub.errors import NotFoundError
from medcoop.hub.services.analytics.summaries import compact, month_range, read_pooled, uuid_bytes
from medcoop.records import (
    DeviceInfo,
    DoseTotals,
    IrradiationEvent,
    PatientFacts,
    StudyRecord,
    UsageFacts,
)
from medcoop.vocabulary import Metric

__all__ = [
    "drl_comparisons",
    "load_records",
    "patient_history",
    "peer_benchmark",
    "query_studies",
    "require_site",
    "utilization",
]

_TOTALS = tuple(DoseTotals.model_fields)
_USAGE = tuple(UsageFacts.model_fields)
_MAX_STUDIES = 200_000
_COMPACT_PER_QUERY = 3  # bounds what one query adds to its own time
log = logging.getLogger(__name__)


def require_site(session: Session, site_id: uuid.UUID) -> Site:
    """Return the caller's site, or raise ``NotFoundError`` (also for other tenants' sites)."""
    site = session.scalar(select(Site).where(Site.id == site_id))
    if site is None:
        raise NotFoundError("site", site_id)
    return site


def load_records(
    session: Session,
    *,
    site_ids: Sequence[uuid.UUID] | None = None,
    modality: str | None = None,
    from_at: datetime | None = None,
    to_at: datetime | None = None,
    study_ids: Sequence[uuid.UUID] | None = None,
    pseudonyms: Sequence[str] | None = None,
) -> list[tuple[uuid.UUID, StudyRecord]]:
    """Return ``(site_id, record)`` for the studies the session may see, oldest first.

    Every filter given narrows the result; ``study_ids`` and ``pseudonyms`` (patients)
    serve the alerts evaluated at ingest.
    """
    query = (
        select(Study, Device, Patient)
        .join(Device, (Device.org_id == Study.org_id) & (Device.id == Study.device_id))
        .join(Patient, (Patient.org_id == Study.org_id) & (Patient.id == Study.patient_id))
    )
    if site_ids is not None:
        query = query.where(Study.site_id.in_(list(site_ids)))
    if study_ids is not None:
        query = query.where(Study.id.in_(list(study_ids)))
    if pseudonyms is not None:
        query = query.where(Patient.pseudonym.in_(list(pseudonyms)))
    if modality is not None:
        query = query.where(Study.modality == modality)
    if from_at is not None:
        query = query.where(Study.study_at >= from_at)
    if to_at is not None:
        query = query.where(Study.study_at < to_at)
    rows = session.execute(query.order_by(Study.study_at).limit(_MAX_STUDIES)).all()
    ids = [study.id for study, _, _ in rows]
    events: dict[uuid.UUID, list[IrradiationEvent]] = defaultdict(list)
    usage: dict[uuid.UUID, UsageFact] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for row in session.scalars(
            select(IrradiationEventRow).where(IrradiationEventRow.study_id.in_(chunk))
        ):
            payload = {"event_uid": row.event_uid, "kind": row.kind, **row.details}
            events[row.study_id].append(IrradiationEvent.model_validate(payload))
        for fact in session.scalars(select(UsageFact).where(UsageFact.study_id.in_(chunk))):
            usage[fact.study_id] = fact
    return [
        (study.site_id, _record(study, device, patient, events[study.id], usage.get(study.id)))
        for study, device, patient in rows
    ]


def _record(
    study: Study,
    device: Device,
    patient: Patient,
    events: list[IrradiationEvent],
    usage: UsageFact | None,
) -> StudyRecord:
    # validated at ingest: rebuild without validating again
    usage_fields = {k: getattr(usage, k) for k in _USAGE} if usage else {}
    return StudyRecord.model_construct(
        record_key=study.record_key,
        study_uid=study.study_uid,
        modality=study.modality,
        study_at=study.study_at,
        utc_offset_min=study.utc_offset_min,
        study_description=study.study_description,
        procedure_code=study.procedure_code,
        device=DeviceInfo.model_construct(device_key=device.device_key, modality=device.modality),
        patient=PatientFacts.model_construct(
            pseudonym=patient.pseudonym,
            age_years=study.age_years,
            sex=study.sex,
            effective_diameter_cm=study.effective_diameter_cm,
            water_equivalent_diameter_cm=study.water_equivalent_diameter_cm,
        ),
        events=tuple(events),
        totals=DoseTotals.model_construct(**{k: getattr(study, k) for k in _TOTALS}),
        usage=UsageFacts.model_construct(**usage_fields),
    )


def drl_comparisons(
    session: Session,
    site_id: uuid.UUID | None,
    *,
    group_by: Sequence[Literal["site_id", "device_key", "protocol"]] = ("site_id",),
    source_id: str | None = None,
    min_n: int = 10,
    from_at: datetime | None = None,
    to_at: datetime | None = None,
) -> list[DrlComparison]:
    """Compare one site's studies (every site's for ``None``) with the national DRLs."""
    if site_id is not None:
        require_site(session, site_id)
    entries = [e for e in load_national_drls() if source_id in (None, e.source_id)]
    observations: list[DoseObservation] = []
    site_ids = None if site_id is None else [site_id]
    for site, record in load_records(session, site_ids=site_ids, from_at=from_at, to_at=to_at):
        exam = classify_record(record)
        if exam is not None:
            observations.extend(
                observations_from_record(record, site_id=str(site), exam_type=exam.key)
            )
    return compare_with_drls(observations, entries, group_by=group_by, min_n=min_n)


def peer_benchmark(
    session: Session,
    pool: Session,
    site_id: uuid.UUID,
    *,
    exam_type: str,
    metric: Metric,
    filters: dict[str, str] | None = None,
    from_at: datetime | None = None,
    to_at: datetime | None = None,
    policy: PrivacyPolicy | None = None,
    use_blocks: bool = True,
) -> PeerBenchmark:
    """Benchmark one of the caller's sites against every other site in the pool.

    ``session`` is the caller's tenant-scoped session (the site must be theirs); ``pool``
    a fresh session, pooled here for the peer benchmark on the caller's behalf. The period is
    widened to whole UTC months (:func:`~medcoop.hub.services.analytics.summaries.month_range`):
    the answer merges the monthly summaries it covers, from the pooled blocks and the
    cells changed since (:func:`~medcoop.hub.services.analytics.summaries.read_pooled`); then up
    to a few months whose blocks are missing or stale are compacted for the next query
    (``pool`` is committed). ``use_blocks=False`` reads the cells only, compacts nothing.
    """
    require_site(session, site_id)
    if exam_type not in {t.key for t in EXAM_TYPES}:
        raise NotFoundError("exam type", exam_type)
    tenant = tenancy.current_tenant(session)
    on_behalf = tenant if isinstance(tenant, uuid.UUID) else None
    tenancy.pooled(pool, Purpose.PEER_BENCHMARK, tenant=on_behalf)
    wanted_class = (filters or {}).get("device_class")
    pooled = read_pooled(
        pool,
        exam_type,
        metric,
        month_range(from_at, to_at),
        device_ids=_class_devices(pool, wanted_class) if wanted_class is not None else None,
        use_blocks=use_blocks,
    )
    per_site = pooled.per_site
    studies_per_site = per_site.totals()
    tenancy.concerns(  # the access log's aggregate: how many studies of how many sites
        pool,
        records=int(studies_per_site.sum()),
        sites=int((studies_per_site > 0).sum()),
    )
    site_filters = {k: v for k, v in (filters or {}).items() if k != "device_class"}
    attributes = (
        {
            str(s.id): {"country": s.country or "", "site_type": s.site_type or ""}
            for s in pool.scalars(select(Site))
        }
        if site_filters
        else {}
    )
    notes: list[str] = []
    if wanted_class is not None and pooled.in_class is not None:
        policy = policy or PrivacyPolicy()
        in_class = pooled.in_class
        # like narrowing by site attributes: only when the class and the rest (the sites'
        # other devices: all less the class, per site) are both safe
        others = per_site.ids != str(site_id)
        inside = in_class.totals()[others]
        if _safe(inside, policy) and _safe(per_site.totals()[others] - inside, policy):
            per_site = in_class
        else:
            notes.append(
                f"device_class={wanted_class} not applied: too few peers would remain on one side"
            )
            wanted_class = None
    result = benchmark_site(
        str(site_id),
        per_site,
        policy=policy,
        attributes=attributes,
        filters=site_filters,
    )
    if use_blocks and pooled.stale:
        try:  # a faster next query; this answer is already complete
            compact(pool, exam_type, metric, pooled.stale[:_COMPACT_PER_QUERY])
        except SQLAlchemyError:
            log.warning("could not compact %s %s blocks", exam_type, metric, exc_info=True)
    narrowed = dict(result.narrowed_by)
    if wanted_class is not None:
        narrowed["device_class"] = wanted_class
    return replace(result, notes=(*notes, *result.notes), narrowed_by=narrowed)


def _class_devices(pool: Session, wanted: str) -> list[bytes]:
    """Return the UUID bytes of the devices whose peer-benchmark class (their modality
    unless refined) is ``wanted``."""
    rows = pool.execute(
        select(cast(Device.id, String), Device.device_class, Device.modality).where(
            or_(Device.device_class == wanted, Device.modality == wanted)
        )
    )
    # the database's text of the id (no UUID object per device): hex, dashed or not
    return [
        uuid_bytes(id_)
        for id_, device_class, modality in rows
        if (device_class or modality) == wanted
    ]


def _safe(totals: np.ndarray, policy: PrivacyPolicy) -> bool:
    """Whether peers with these per-site study counts may be shown."""
    counts = CellCounts(n_studies=int(totals.sum()), n_sites=int((totals > 0).sum()))
    return policy.allows(counts)


def utilization(
    session: Session,
    site_id: uuid.UUID,
    *,
    first_day: date,
    last_day: date,
    opening_hours: OpeningHours,
) -> dict[str, Any]:
    """Return per-device utilization of one site over local days (inclusive)."""
    require_site(session, site_id)
    margin = timedelta(days=2)  # local days vs UTC storage: read a little wider, filter later
    from_at = datetime.combine(first_day, time(), tzinfo=UTC) - margin
    to_at = datetime.combine(last_day, time(), tzinfo=UTC) + margin
    loaded = load_records(session, site_ids=[site_id], from_at=from_at, to_at=to_at)
    records = [r for _, r in loaded]
    intervals = [i for i in map(interval_from_record, records) if i is not None]
    result: dict[str, DeviceUtilization] = device_utilization(
        intervals, opening_hours=opening_hours, first_day=first_day, last_day=last_day
    )
    return dict(result)


def query_studies(
    session: Session, query: StudyQuery, *, sort: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of the caller's studies as flat rows (with SSDE), and the total."""
    site_ids = [uuid.UUID(query.site_id)] if query.site_id else None
    loaded = load_records(
        session,
        site_ids=site_ids,
        modality=query.modality,
        from_at=query.from_at,
        to_at=query.to_at,
    )
    rows = [row for site, r in loaded if query.matches(row := study_row(r, site_id=str(site)))]
    ordered = sort_rows(rows, sort)
    return ordered[offset : offset + limit], len(ordered)


def patient_history(session: Session, pseudonym: str) -> list[HistoryPoint]:
    """Return a patient's cumulative dose history in the caller's organisation."""
    patients = list(session.scalars(select(Patient).where(Patient.pseudonym == pseudonym)))
    if not patients:
        raise NotFoundError("patient", pseudonym[:12])
    site_ids = sorted({p.site_id for p in patients})
    loaded = load_records(session, site_ids=site_ids, pseudonyms=[pseudonym])
    return dose_history([r for _, r in loaded], pseudonym)
