"""Synthetic, de-identified records for hub tests (built with the records contract)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from medcoop.records import (
    DeviceInfo,
    DoseTotals,
    EventKind,
    IrradiationEvent,
    PatientFacts,
    RecordBatch,
    Sex,
    StudyRecord,
    UsageFacts,
    record_key_for,
)

BASE_AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def uid(rng: random.Random) -> str:
    """Return a random ``2.25.`` UID."""
    return f"2.25.{rng.getrandbits(120)}"


def hexkey(rng: random.Random, size: int = 64) -> str:
    """Return random hex of ``size`` digits (pseudonyms, device keys)."""
    return f"{rng.getrandbits(size * 4):0{size}x}"


def ct_event(
    rng: random.Random, *, event_uid: str | None = None, at: datetime = BASE_AT
) -> IrradiationEvent:
    """Return a CT acquisition event with plausible values."""
    ctdivol = round(rng.uniform(2, 25), 2)
    length_cm = rng.uniform(20, 50)
    return IrradiationEvent(
        event_uid=event_uid or uid(rng),
        kind=EventKind.CT_ACQUISITION,
        started_at=at,
        protocol=rng.choice(["CHEST", "ABDOMEN PELVIS", "HEAD"]),
        target_region="Chest",
        acquisition_type="Spiral Acquisition",
        ctdivol_mgy=ctdivol,
        dlp_mgycm=round(ctdivol * length_cm, 1),
        ctdi_phantom="body32",
        kvp=120.0,
        tube_current_ma=rng.uniform(80, 400),
        pitch=1.0,
    )


def record(
    rng: random.Random,
    *,
    study_uid: str | None = None,
    events: tuple[IrradiationEvent, ...] | None = None,
    device_key: str = "device-key-0001",
    pseudonym: str | None = None,
    usage: UsageFacts | None = None,
    **overrides: Any,
) -> StudyRecord:
    """Return a CT study record whose key is computed from its content."""
    events = (
        events if events is not None else tuple(ct_event(rng) for _ in range(rng.randint(2, 4)))
    )
    at = BASE_AT + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
    content: dict[str, Any] = {
        "study_uid": study_uid or uid(rng),
        "modality": "CT",
        "study_at": at,
        "study_description": "CT CHEST",
        "device": DeviceInfo(
            device_key=device_key, manufacturer="Acme", model="Scan 64", modality="CT"
        ),
        "patient": PatientFacts(
            pseudonym=pseudonym or hexkey(rng),
            age_years=rng.randint(20, 90),
            sex=rng.choice([Sex.MALE, Sex.FEMALE]),
            weight_kg=rng.uniform(50, 110),
        ),
        "events": events,
        "totals": DoseTotals(
            total_dlp_mgycm=round(sum(e.dlp_mgycm or 0 for e in events), 1),
            number_of_events=len(events),
        ),
        "usage": usage
        or UsageFacts(
            first_acquisition_at=at, last_acquisition_at=at + timedelta(minutes=5), image_count=300
        ),
        "sources": ("rdsr",),
    }
    content.update(overrides)
    probe = StudyRecord(record_key="0" * 64, **content)
    key = record_key_for(probe.model_dump(mode="json"))
    return StudyRecord(record_key=key, **content)


def batch(records: list[StudyRecord]) -> RecordBatch:
    """Return a batch of ``records`` sent now."""
    return RecordBatch(sent_at=datetime.now(UTC), edge_version="test", records=tuple(records))


def batch_json(records: list[StudyRecord]) -> bytes:
    """Return the JSON body of a batch, as the edge sends it."""
    return batch(records).model_dump_json().encode()
