"""Engine behaviour: pseudonyms, references, dates, marking, private tags, burned-in, SR."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from pydicom import Dataset

from medcoop.deid import (
    Deidentified,
    Deidentifier,
    PixelRule,
    SiteKey,
    Withheld,
    load_profile,
)
from tests.common.adversarial import adversarial_corpus, find_leaks

KEY = SiteKey(b"\x02" * 32)


def _ok(result: Deidentified | Withheld) -> Deidentified:
    assert isinstance(result, Deidentified), getattr(result, "reason", "")
    return result


def _cases() -> dict[str, Dataset]:
    return {case.name: case.dataset for case in adversarial_corpus(patients=2)}


def test_same_patient_same_pseudonym_and_a_different_key_differs() -> None:
    cases = _cases()
    deid = Deidentifier(KEY)
    ct = _ok(deid.deidentify(cases["p0-ct"]))
    rdsr = _ok(deid.deidentify(cases["p0-rdsr"]))
    other = _ok(deid.deidentify(cases["p1-ct"]))
    assert ct.dataset.PatientID == rdsr.dataset.PatientID == ct.pseudonym
    assert ct.pseudonym == KEY.patient_pseudonym(cases["p0-ct"].PatientID, "HOSPITAL-A")
    assert other.pseudonym != ct.pseudonym
    assert str(ct.dataset.PatientName) == str(rdsr.dataset.PatientName)
    elsewhere = _ok(Deidentifier(SiteKey(b"\x03" * 32)).deidentify(cases["p0-ct"]))
    assert elsewhere.pseudonym != ct.pseudonym


def test_references_between_objects_still_resolve() -> None:
    cases = _cases()
    rule = PixelRule("ACME Medical", "Mobile DR 7", 8, 8, ((0, 0, 8, 2),))
    deid = Deidentifier(KEY, load_profile("dose-monitoring", {"pixel_rules": [rule]}))
    ct = _ok(deid.deidentify(cases["p0-ct"])).dataset
    rdsr = _ok(deid.deidentify(cases["p0-rdsr"])).dataset
    dx = _ok(deid.deidentify(cases["p0-dx"])).dataset
    assert ct.SOPInstanceUID.startswith("2.25.")
    assert ct.SOPInstanceUID != cases["p0-ct"].SOPInstanceUID
    assert rdsr.StudyInstanceUID == ct.StudyInstanceUID == dx.StudyInstanceUID
    assert rdsr.FrameOfReferenceUID == ct.FrameOfReferenceUID
    evidence = rdsr.CurrentRequestedProcedureEvidenceSequence[0]
    referenced = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert referenced.ReferencedSOPInstanceUID == ct.SOPInstanceUID
    assert dx.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID
    study_ref = next(i for i in rdsr.ContentSequence if i.ValueType == "UIDREF")
    assert ct.StudyInstanceUID == study_ref.UID
    assert ct.file_meta.MediaStorageSOPInstanceUID == ct.SOPInstanceUID


def test_input_is_left_untouched_unless_in_place() -> None:
    ds = _cases()["p0-ct"]
    before = ds.PatientName
    _ok(Deidentifier(KEY).deidentify(ds))
    assert ds.PatientName == before
    _ok(Deidentifier(KEY).deidentify(ds, in_place=True))
    assert ds.PatientName != before


def test_marking_attributes_name_the_options_applied() -> None:
    out = _ok(Deidentifier(KEY, load_profile("dose-monitoring")).deidentify(_cases()["p0-ct"]))
    ds = out.dataset
    assert ds.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113111", "113109", "113108", "113106", "113105", "113104"]
    assert out.methods == tuple(codes)
    assert all(
        item.CodingSchemeDesignator == "DCM" for item in ds.DeidentificationMethodCodeSequence
    )
    assert any("2026c" in text for text in ds.DeidentificationMethod)
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    basic = _ok(Deidentifier(KEY, load_profile("basic")).deidentify(_cases()["p0-ct"])).dataset
    assert [i.CodeValue for i in basic.DeidentificationMethodCodeSequence] == ["113100"]
    assert basic.LongitudinalTemporalInformationModified == "REMOVED"
    assert "StudyDate" not in basic or basic.StudyDate in ("", None, "19000101")


def test_dose_monitoring_keeps_what_analytics_need() -> None:
    source = _cases()["p0-ct"]
    ds = _ok(Deidentifier(KEY, load_profile("dose-monitoring")).deidentify(source)).dataset
    assert ds.StudyDate == "20260105" and ds.StudyTime == "101500"
    assert ds.StationName == "CT01" and ds.DeviceSerialNumber == "SN-77812"
    assert ds.PatientAge == "061Y" and ds.PatientSex == "F" and ds.PatientWeight == 71.5
    assert ds.CTDIvol == 12.5
    assert ds.ProtocolName == "CHEST ROUTINE"  # cleaned, not removed
    assert "InstitutionName" not in ds or ds.InstitutionName in ("", None, "ANONYMOUS")
    assert "PatientBirthDate" not in ds or not ds.PatientBirthDate


def test_modified_dates_shift_consistently_per_patient() -> None:
    cases = _cases()
    deid = Deidentifier(KEY, load_profile("research-longitudinal"))
    ct = _ok(deid.deidentify(cases["p0-ct"]))
    rdsr = _ok(deid.deidentify(cases["p0-rdsr"]))
    expected = date(2026, 1, 5) + timedelta(days=KEY.date_shift_days(ct.pseudonym))
    assert ct.dataset.StudyDate == rdsr.dataset.StudyDate == expected.strftime("%Y%m%d")
    assert ct.dataset.StudyTime == "101500"
    assert ct.dataset.LongitudinalTemporalInformationModified == "MODIFIED"
    event = next(i for i in rdsr.dataset.ContentSequence if i.ValueType == "CONTAINER")
    started = next(i for i in event.ContentSequence if i.ValueType == "DATETIME")
    assert started.DateTime == expected.strftime("%Y%m%d") + "101700"


def test_structured_content_is_cleaned_not_dropped() -> None:
    rdsr = _ok(Deidentifier(KEY).deidentify(_cases()["p0-rdsr"])).dataset
    observer = next(i for i in rdsr.ContentSequence if i.ValueType == "PNAME")
    assert str(observer.PersonName) == "ANONYMOUS"
    event = next(i for i in rdsr.ContentSequence if i.ValueType == "CONTAINER")
    texts = [i.TextValue for i in event.ContentSequence if i.ValueType == "TEXT"]
    assert texts == ["Chest", "ok"]
    # Code values (six digits, like an ID) are codes, not free text: kept as they are.
    assert event.ConceptNameCodeSequence[0].CodeValue == "113819"
    assert [i.ConceptNameCodeSequence[0].CodeValue for i in event.ContentSequence] == [
        "113769",
        "111526",
        "125203",
        "121106",
    ]
    assert str(rdsr.VerifyingObserverSequence[0].VerifyingObserverName) == "ANONYMOUS"
    assert "AuthorObserverSequence" not in rdsr


def _private_dataset() -> Dataset:
    ds = _cases()["p0-ct"]
    ge = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    ge.add_new(0x27, "DS", "0.5")  # safe: rotation time
    ge.add_new(0x28, "LO", "kept nowhere")  # same creator, not on the list
    parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    parm.add_new(0x27, "UN", b"Okonkwo ")  # safe slot, but not a number
    return ds


def test_retain_safe_private_keeps_only_listed_numeric_values() -> None:
    ds = _ok(Deidentifier(KEY, load_profile("dose-monitoring")).deidentify(_private_dataset()))
    out = ds.dataset
    block = out.private_block(0x0019, "GEMS_ACQU_01")
    assert out[block.get_tag(0x27)].value == "0.5"
    assert block.get_tag(0x28) not in out
    assert not any(elem.tag.group == 0x0043 for elem in out)  # emptied block: creator gone
    assert not any(elem.tag.group in (0x0029, 0x0031) for elem in out)  # unknown creator


def test_without_retain_safe_private_every_private_element_goes() -> None:
    result = Deidentifier(KEY, load_profile("basic")).deidentify(_private_dataset())
    assert not any(elem.tag.is_private for elem in _ok(result).dataset)


def test_burned_in_objects_are_withheld_without_a_pixel_rule() -> None:
    cases = _cases()
    deid = Deidentifier(KEY)
    sc = deid.deidentify(cases["p0-sc"])
    dx = deid.deidentify(cases["p0-dx"])
    assert isinstance(sc, Withheld) and "secondary capture" in sc.reason
    assert isinstance(dx, Withheld) and "burned-in" in dx.reason
    # Secondary captures are screens: a declaration of no burned-in text is not trusted.
    cases["p0-sc"].BurnedInAnnotation = "NO"
    assert isinstance(deid.deidentify(cases["p0-sc"]), Withheld)


@pytest.mark.parametrize(
    ("sop_class", "image_type", "kind"),
    [
        ("1.2.840.10008.5.1.4.1.1.2", ["DERIVED", "SECONDARY", "SCREEN SAVE"], "screen save"),
        ("1.2.840.10008.5.1.4.1.1.7", ["DERIVED", "SECONDARY"], "secondary capture"),
        ("1.2.840.10008.5.1.4.1.1.7.4", ["ORIGINAL", "PRIMARY"], "secondary capture"),
        ("1.2.840.10008.5.1.4.1.1.77.1.4", ["ORIGINAL", "PRIMARY"], "visible-light"),
        ("1.2.840.10008.5.1.4.1.1.77.1.4.1", ["ORIGINAL", "PRIMARY"], "visible-light"),
        ("1.2.840.10008.5.1.4.1.1.6.1", ["ORIGINAL", "PRIMARY"], "ultrasound"),
        ("1.2.840.10008.5.1.4.1.1.3.1", ["ORIGINAL", "PRIMARY"], "ultrasound"),
    ],
)
def test_objects_with_rendered_text_are_withheld_whatever_burned_in_annotation_says(
    sop_class: str, image_type: list[str], kind: str
) -> None:
    ds = _cases()["p0-ct"]
    ds.SOPClassUID = sop_class
    ds.ImageType = image_type
    for declared in ("NO", None):
        if declared is None:
            del ds.BurnedInAnnotation
        else:
            ds.BurnedInAnnotation = declared
        result = Deidentifier(KEY).deidentify(ds)
        assert isinstance(result, Withheld) and kind in result.reason


def test_a_derived_secondary_reformat_is_not_a_screen() -> None:
    ds = _cases()["p0-ct"]
    ds.ImageType = ["DERIVED", "SECONDARY", "MPR"]
    assert isinstance(Deidentifier(KEY).deidentify(ds), Deidentified)


def test_a_pixel_rule_blanks_its_rectangles_and_names_clean_pixel_data() -> None:
    rule = PixelRule("acme medical", "MOBILE DR 7", 8, 8, ((0, 0, 8, 2), (6, 6, 8, 8)))
    deid = Deidentifier(KEY, load_profile("dose-monitoring", {"pixel_rules": [rule]}))
    source = _cases()["p0-dx"]
    before = source.pixel_array.copy()
    out = _ok(deid.deidentify(source))
    pixels = out.dataset.pixel_array
    assert not pixels[0:2, :].any() and not pixels[6:8, 6:8].any()
    assert np.array_equal(pixels[2:6, 0:6], before[2:6, 0:6])
    assert out.dataset.BurnedInAnnotation == "NO"
    assert out.methods[:2] == ("113100", "113101")


def test_compressed_burned_in_pixels_are_withheld() -> None:
    rule = PixelRule("ACME Medical", "Mobile DR 7", 8, 8, ((0, 0, 8, 2),))
    deid = Deidentifier(KEY, load_profile("dose-monitoring", {"pixel_rules": [rule]}))
    source = _cases()["p0-dx"]
    source.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
    result = deid.deidentify(source)
    assert isinstance(result, Withheld) and "compressed" in result.reason


def test_encapsulated_documents_are_always_withheld() -> None:
    ds = _cases()["p0-ct"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    assert isinstance(Deidentifier(KEY).deidentify(ds), Withheld)


def test_an_identifier_in_an_unlisted_coded_field_withholds_and_says_where() -> None:
    ds = _cases()["p0-ct"]
    ds.BodyPartExamined = "OKONKWO"  # CS, not in the table: kept, so the gate must catch it
    result = Deidentifier(KEY).deidentify(ds)
    assert isinstance(result, Withheld)
    assert "(0018,0015)" in result.reason
    assert "OKONKWO" not in result.reason.upper()


def test_a_malformed_object_is_withheld_not_raised() -> None:
    ds = _cases()["p0-ct"]
    ds.add_new(0x00280010, "US", "not a number")  # Rows
    result = Deidentifier(KEY).deidentify(ds)
    assert isinstance(result, Withheld)
    assert result.reason.startswith("could not de-identify")


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("nonesuch", None, "unknown de-identification profile"),
        ("basic", {"retain_everything": True}, "unknown de-identification option"),
        ("basic", {"retain_uids": "yes"}, "takes true or false"),
        ("dose-monitoring", {"retain_long_modified_dates": True}, "exclude each other"),
    ],
)
def test_bad_profiles_are_clear_errors(name: str, overrides: dict | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_profile(name, overrides)


def test_overrides_apply_and_pixel_rules_accept_dicts() -> None:
    profile = load_profile(
        "dose-monitoring",
        {
            "retain_uids": True,
            "pixel_rules": [
                {
                    "manufacturer": "A",
                    "model": "B",
                    "rows": 4,
                    "columns": 4,
                    "rectangles": [[0, 0, 4, 1]],
                }
            ],
        },
    )
    assert profile.retain_uids and profile.pixel_rules[0].rectangles == ((0, 0, 4, 1),)
    source = _cases()["p0-ct"]
    out = _ok(Deidentifier(KEY, profile).deidentify(source)).dataset
    assert out.SOPInstanceUID == source.SOPInstanceUID
    with pytest.raises(ValueError, match="outside the image"):
        PixelRule("A", "B", 4, 4, ((0, 0, 5, 1),))


def test_the_pooling_profile_removes_free_text_it_never_reads_and_cleans_what_it_keeps() -> None:
    source = next(c for c in adversarial_corpus(patients=2) if c.name == "p1-text")
    pooled = _ok(Deidentifier(KEY).deidentify(source.dataset.copy())).dataset
    for keyword in ("PatientComments", "AdditionalPatientHistory", "ImageComments",
                    "AdmittingDiagnosesDescription"):
        assert keyword not in pooled, keyword
    assert "CT chest" in str(pooled.ProcedureCodeSequence[0].CodeMeaning)  # kept, cleaned
    research = Deidentifier(KEY, load_profile("research-longitudinal"))
    cleaned = _ok(research.deidentify(source.dataset.copy())).dataset
    history = str(cleaned.AdditionalPatientHistory)
    assert "seen by" not in history or "ANNA" not in history
    assert find_leaks(history.encode(), source.patient.tokens) == set()
