"""The edge → hub record contract: strict, versioned, de-identified by construction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from medcoop.deid.pseudonym import SiteKey
from medcoop.records import (
    SCHEMA_VERSION,
    DeviceInfo,
    EventKind,
    IrradiationEvent,
    PatientFacts,
    RecordBatch,
    StudyRecord,
    record_key_for,
)

KEY = SiteKey(b"k" * 32)


def _record(**overrides: object) -> StudyRecord:
    content: dict[str, object] = {
        "study_uid": KEY.remap_uid("1.2.3.4"),
        "modality": "CT",
        "study_at": datetime(2026, 1, 2, 8, 30, tzinfo=UTC),
        "device": DeviceInfo(device_key="dev-00000001", manufacturer="ACME", modality="CT"),
        "patient": PatientFacts(pseudonym=KEY.patient_pseudonym("PAT-1"), age_years=54),
        "events": (
            IrradiationEvent(
                event_uid=KEY.remap_uid("1.2.3.4.1"),
                kind=EventKind.CT_ACQUISITION,
                ctdivol_mgy=12.5,
                dlp_mgycm=400,
            ),
        ),
    }
    content.update(overrides)
    dumped = StudyRecord.model_construct(record_key="0" * 64, **content).model_dump(mode="json")
    return StudyRecord(**content, record_key=record_key_for(dumped))


def test_record_round_trips_through_json() -> None:
    record = _record()
    again = StudyRecord.model_validate_json(record.model_dump_json())
    assert again == record


def test_record_key_changes_with_content_and_only_with_content() -> None:
    first, same = _record(), _record()
    assert first.record_key == same.record_key
    other = _record(modality="DX")
    assert other.record_key != first.record_key


def test_unknown_fields_are_rejected() -> None:
    data = _record().model_dump(mode="json")
    data["patient"]["patient_name"] = "DOE^JANE"
    with pytest.raises(ValidationError, match="patient_name"):
        StudyRecord.model_validate(data)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError):
        _record(study_at=datetime(2026, 1, 2, 8, 30))


def test_duplicate_event_uids_are_rejected() -> None:
    event = IrradiationEvent(event_uid=KEY.remap_uid("9"), kind=EventKind.PROJECTION)
    with pytest.raises(ValidationError, match="duplicate event_uid"):
        _record(events=(event, event))


def test_batch_carries_schema_version_and_refuses_other_majors() -> None:
    batch = RecordBatch(sent_at=datetime.now(UTC), records=(_record(),))
    assert batch.model_dump()["schema_version"] == SCHEMA_VERSION
    with pytest.raises(ValidationError, match="not supported"):
        RecordBatch(schema_version="2.0", sent_at=datetime.now(UTC), records=(_record(),))


def test_pseudonyms_are_keyed_and_uids_are_2_25() -> None:
    other = SiteKey(b"x" * 32)
    assert KEY.patient_pseudonym("PAT-1") == KEY.patient_pseudonym("PAT-1")
    assert KEY.patient_pseudonym("PAT-1") != KEY.patient_pseudonym("PAT-2")
    assert KEY.patient_pseudonym("PAT-1") != other.patient_pseudonym("PAT-1")
    uid = KEY.remap_uid("1.2.840.113619.2.55.3")
    assert uid.startswith("2.25.") and len(uid) <= 64
    assert uid == KEY.remap_uid("1.2.840.113619.2.55.3")


def test_totals_disagree_is_additive_in_1_1_and_absent_when_empty() -> None:
    assert SCHEMA_VERSION == "1.1"
    agreeing = _record()
    dumped = agreeing.model_dump(mode="json")
    assert "totals_disagree" not in dumped  # a 1.0 hub (extra="forbid") still takes it
    assert record_key_for(dumped) == agreeing.record_key  # and its key is the 1.0 key
    flagged = _record(totals_disagree=("total_dlp_mgycm",))
    again = StudyRecord.model_validate_json(flagged.model_dump_json())
    assert again.totals_disagree == ("total_dlp_mgycm",)
    assert flagged.record_key != agreeing.record_key
    with pytest.raises(ValidationError):
        _record(totals_disagree=("patient_name",))
