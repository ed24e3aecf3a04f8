"""Small synthetic study records for the analytics tests (hand-checkable values)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from medcoop.deid.pseudonym import SiteKey
from medcoop.records import (
    DeviceInfo,
    DoseTotals,
    EventKind,
    IrradiationEvent,
    PatientFacts,
    StudyRecord,
    UsageFacts,
    record_key_for,
)

KEY = SiteKey(b"t" * 32)


def ct_event(uid: str, ctdivol_mgy: float, dlp_mgycm: float, **extra: Any) -> IrradiationEvent:
    """A CT acquisition on the 32 cm phantom unless ``ctdi_phantom`` says otherwise."""
    fields: dict[str, Any] = {"ctdi_phantom": "body32"}
    fields.update(extra)
    return IrradiationEvent(
        event_uid=KEY.remap_uid(uid),
        kind=EventKind.CT_ACQUISITION,
        ctdivol_mgy=ctdivol_mgy,
        dlp_mgycm=dlp_mgycm,
        **fields,
    )


def record(
    study: str,
    *,
    modality: str = "CT",
    patient: str = "P1",
    device_key: str = "device-a1",
    events: tuple[IrradiationEvent, ...] = (),
    totals: DoseTotals | None = None,
    usage: UsageFacts | None = None,
    study_at: datetime | None = None,
    description: str | None = None,
    **patient_facts: Any,
) -> StudyRecord:
    """A study record with a valid record key."""
    content: dict[str, Any] = {
        "study_uid": KEY.remap_uid(study),
        "modality": modality,
        "study_at": study_at,
        "study_description": description,
        "device": DeviceInfo(device_key=device_key, modality=modality),
        "patient": PatientFacts(pseudonym=KEY.patient_pseudonym(patient), **patient_facts),
        "events": events,
        "totals": totals or DoseTotals(),
        "usage": usage or UsageFacts(),
    }
    dumped = StudyRecord.model_construct(record_key="0" * 64, **content).model_dump(mode="json")
    return StudyRecord(**content, record_key=record_key_for(dumped))


def ingest_via_api(client: Any, tenant: Any, studies: list[StudyRecord]) -> dict[str, Any]:
    """Post ``studies`` as one batch with the tenant's site token; return the hub's answer."""
    from datetime import UTC

    from medcoop.records import RecordBatch
    from tests.hub.conftest import auth

    batch = RecordBatch(sent_at=datetime.now(UTC), records=tuple(studies))
    answer = client.post(
        "/api/v1/ingest",
        content=batch.model_dump_json(),
        headers={**auth(tenant.site_token), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result
