"""Extraction from synthetic RDSRs and image headers: dispatch, codes, units, modality."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medcoop.dicom import Extraction, Skipped, extract_bytes, extract_dataset
from medcoop.records import EventKind, Sex, SourceKind

from . import builders as b

ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"


def _ok_bytes(data: bytes) -> Extraction:
    result = extract_bytes(data)
    assert isinstance(result, Extraction), result
    return result


def _ok(ds: Dataset) -> Extraction:
    result = extract_dataset(ds)
    assert isinstance(result, Extraction), result
    return result


def test_ct_rdsr_events_totals_and_identity() -> None:
    result = _ok(b.ct_rdsr([("1.2.3.1", 10.0, 200.0), ("1.2.3.2", 5.0, 100.0)]))
    assert result.modality == "CT" and result.header_modality == "SR"
    assert result.source is SourceKind.RDSR
    assert [e.event_uid for e in result.events] == ["1.2.3.1", "1.2.3.2"]
    first = result.events[0]
    assert first.kind is EventKind.CT_ACQUISITION
    assert (first.ctdivol_mgy, first.dlp_mgycm, first.ctdi_phantom) == (10.0, 200.0, "body32")
    assert first.exposure_time_s == pytest.approx(5.0)  # written in ms
    assert first.acquisition_type == "Spiral Acquisition"
    assert result.totals.total_dlp_mgycm == pytest.approx(300.0)  # summed: no accumulated data
    assert result.totals.number_of_events == 2
    assert result.patient.patient_id == "PID-778899"
    assert result.patient.birth_date == date(1970, 2, 3)
    assert result.patient.sex is Sex.FEMALE
    assert result.patient.age_years == pytest.approx(55.9, abs=0.1)  # from birth and study date
    assert result.study_at == datetime(2026, 1, 5, 10, 15)
    assert {"Testperson^Ada", "PID-778899", "19700203", "ACC-445566", "St Elsewhere"} <= (
        result.identifying_values()
    )


def test_dlp_unit_spellings_and_unknown_units() -> None:
    ds = b.rdsr(
        b.CT_PROC,
        b.ct_event("1.1", 1.0, 50.0, dlp_unit="mGycm"),
        b.ct_event("1.2", 1.0, 5.0, dlp_unit="Gy.cm"),
        b.ct_event("1.3", 1.0, 5.0, dlp_unit="bananas"),
    )
    result = _ok(ds)
    assert [e.dlp_mgycm for e in result.events] == [50.0, 5000.0, None]
    assert result.totals.total_dlp_mgycm is None  # one event's DLP unknown: no partial sum


def test_dual_source_keeps_every_source() -> None:
    result = _ok(b.rdsr(b.CT_PROC, b.ct_event("9.9", 3.0, 30.0, kvps=(100, 140))))
    event = result.events[0]
    assert event.number_of_sources == 2
    sources = result.ct_sources["9.9"]
    assert [(s.source_id, s.kvp, s.tube_current_ma) for s in sources] == [
        ("A", 100.0, 200.0),
        ("B", 140.0, 201.0),
    ]
    assert (event.kvp, event.tube_current_ma) == (100.0, 200.0)


def _projection_event(event_type: tuple[str, str, str], dap: float, unit: str) -> Dataset:
    return b.container(
        ("113706", "DCM", "Irradiation Event X-Ray Data"),
        b.coded(
            ("113764", "DCM", "Acquisition Plane"),
            ("113620", "DCM", "Plane A"),
            rel="HAS CONCEPT MOD",
        ),
        b.dt(("111526", "DCM", "DateTime Started"), "20260105101700"),
        b.coded(("113721", "DCM", "Irradiation Event Type"), event_type),
        b.uidref(("113769", "DCM", "Irradiation Event UID"), f"5.{int(dap * 1e6)}"),
        b.num(("122130", "DCM", "Dose Area Product"), dap, unit),
        b.num(("113738", "DCM", "Dose (RP)"), 0.002, "Gy"),
        b.num(("113742", "DCM", "Irradiation Duration"), 12, "s"),
    )


def test_projection_with_fluoro_is_rf_and_sct_codes_fold_onto_srt() -> None:
    fluoro_sct = ("44491008", "SCT", "Fluoroscopy")
    acquisition = ("113611", "DCM", "Stationary Acquisition")
    ds = b.rdsr(
        b.coded(("121058", "DCM", "Procedure reported"), ("113704", "DCM", "Projection X-Ray")),
        _projection_event(fluoro_sct, 25.0, "dGy.cm2"),
        _projection_event(acquisition, 1.5e-4, "Gy.m2"),
    )
    result = _ok(ds)
    assert result.modality == "RF"
    fluoro, acq = result.events
    assert fluoro.kind is EventKind.FLUOROSCOPY and fluoro.fluoro_time_s == 12.0
    assert fluoro.dap_gycm2 == pytest.approx(2.5)
    assert acq.kind is EventKind.PROJECTION and acq.fluoro_time_s is None
    assert acq.dap_gycm2 == pytest.approx(1.5)
    assert fluoro.plane == "A" and fluoro.rp_dose_mgy == pytest.approx(2.0)
    assert result.totals.total_dap_gycm2 == pytest.approx(4.0)
    assert result.totals.total_fluoro_dap_gycm2 == pytest.approx(2.5)
    assert result.totals.total_fluoro_time_s == 12.0


def test_projection_without_fluoro_is_dx_in_an_enhanced_sr() -> None:
    ds = b.rdsr(
        _projection_event(("113611", "DCM", "Stationary Acquisition"), 0.1, "Gy.cm2"),
        sop_class=ENHANCED_SR,
    )
    assert _ok(ds).modality == "DX"


def test_sr_that_is_not_a_dose_report_is_skipped() -> None:
    ds = b.rdsr(b.text(("121106", "DCM", "Comment"), "hello"))
    ds.ConceptNameCodeSequence = Sequence([b.code("18748-4", "LN", "Diagnostic imaging report")])
    result = extract_dataset(ds)
    assert isinstance(result, Skipped) and "not a dose report" in result.reason
    assert result.sop_instance_uid == ds.SOPInstanceUID


def _image(modality: str, sop_class: str) -> Dataset:
    ds = b.header(sop_class, modality)
    ds.AcquisitionDate = "20260105"
    ds.AcquisitionTime = "101801"
    return ds


def test_dx_header_dose() -> None:
    ds = _image("DX", "1.2.840.10008.5.1.4.1.1.1.1")
    ds.ImageAndFluoroscopyAreaDoseProduct = "1.23"  # dGy·cm²
    ds.KVP = "81"
    ds.ExposureTime = "20"  # ms
    ds.ExposureIndex = 250.0
    ds.DeviationIndex = -0.4
    ds.FilterMaterial = ["ALUMINUM", "COPPER"]
    ds.ProtocolName = "Chest PA"
    result = _ok(ds)
    event = result.events[0]
    assert result.modality == "DX" and result.source is SourceKind.IMAGE_HEADER
    assert event.dap_gycm2 == pytest.approx(0.123)
    assert event.exposure_time_s == pytest.approx(0.02)
    assert (event.exposure_index, event.deviation_index) == (250.0, -0.4)
    assert event.filter_material == "Aluminum or Aluminum compound + Copper or Copper compound"
    assert event.filter_thickness_mm is None  # two filters: thicknesses do not add
    assert result.acquisition_times == (datetime(2026, 1, 5, 10, 18, 1),)
    assert result.image_count == 1 and result.performed_protocol == "Chest PA"


def test_mg_header_agd_from_organ_dose_in_dgy() -> None:
    ds = _image("MG", "1.2.840.10008.5.1.4.1.1.1.2")
    ds.OrganDose = "0.0137"  # dGy
    ds.BodyPartThickness = "53"
    ds.CompressionForce = "50"
    ds.ImageLaterality = "L"
    ds.AnodeTargetMaterial = "TUNGSTEN"
    result = _ok(ds)
    event = result.events[0]
    assert event.kind is EventKind.MAMMOGRAPHY and event.agd_mgy == pytest.approx(1.37)
    assert (event.compressed_thickness_mm, event.compression_force_n) == (53.0, 50.0)
    assert event.anode_target == "Tungsten or Tungsten compound"
    assert result.totals.total_agd_left_mgy == pytest.approx(1.37)


def test_pet_header_activity_and_modality() -> None:
    ds = _image("PT", "1.2.840.10008.5.1.4.1.1.128")
    item = Dataset()
    item.RadionuclideTotalDose = "370000000"
    item.RadiopharmaceuticalStartDateTime = "20260105093000"
    item.RadionuclideCodeSequence = Sequence([b.code("C-111A1", "SRT", "^18^Fluorine")])
    ds.RadiopharmaceuticalInformationSequence = Sequence([item])
    result = _ok(ds)
    event = result.events[0]
    assert result.modality == "PT"
    assert event.administered_activity_mbq == pytest.approx(370.0)
    assert event.started_at == datetime(2026, 1, 5, 9, 30)
    # every image of the administration gives the same event
    again = _ok(ds)
    assert again.events[0].event_uid == event.event_uid


def test_objects_without_dose_facts() -> None:
    mr = _image("MR", "1.2.840.10008.5.1.4.1.1.4")
    result = _ok(mr)
    assert result.events == () and result.image_count == 1  # usage facts only
    pr = b.header("1.2.840.10008.5.1.4.1.1.11.1", "PR")
    assert isinstance(extract_dataset(pr), Skipped)
    no_study = b.header("1.2.840.10008.5.1.4.1.1.2", "CT")
    del no_study.StudyInstanceUID
    assert extract_dataset(no_study) == Skipped("no Study Instance UID", no_study.SOPInstanceUID)
    assert isinstance(extract_dataset(Dataset()), Skipped)


_DEVICE_TYPE = ("122142", "DCM", "Acquisition Device Type")
_FLUORO_GUIDED = ("113957", "DCM", "Fluoroscopy-Guided Projection Radiography System")


@pytest.mark.parametrize("where", ["root", "device_role"])
def test_fluoroscopy_guided_device_without_fluoro_events_is_rf(where: str) -> None:
    stationary = ("113611", "DCM", "Stationary Acquisition")
    device_type = b.coded(_DEVICE_TYPE, _FLUORO_GUIDED, rel="HAS OBS CONTEXT")
    if where == "device_role":
        device_type = b.coded(
            ("113876", "DCM", "Device Role in Procedure"),
            ("113859", "DCM", "Irradiating Device"),
            rel="HAS OBS CONTEXT",
        )
        device_type.ContentSequence = Sequence([b.coded(_DEVICE_TYPE, _FLUORO_GUIDED)])
    ds = b.rdsr(
        b.coded(("121058", "DCM", "Procedure reported"), ("113704", "DCM", "Projection X-Ray")),
        device_type,
        _projection_event(stationary, 0.1, "Gy.cm2"),
    )
    result = _ok(ds)
    assert result.modality == "RF"
    assert [e.kind for e in result.events] == [EventKind.PROJECTION]


def test_corpus_device_types_decide_only_for_fluoroscopy_guided_systems(corpus_dir: Path) -> None:
    modality = {
        name: _ok_bytes((corpus_dir / f"{name}.dcm").read_bytes()).modality
        for name in (
            "RF-RDSR-GE-OECEliteMiniView",  # 113957
            "DX-RDSR-Carestream_DRXEvolution",  # 113958, no fluoroscopy
            "RF-RDSR-Philips_Azurion",  # states 113958 beside its fluoroscopy events
        )
    }
    assert modality == {
        "RF-RDSR-GE-OECEliteMiniView": "RF",
        "DX-RDSR-Carestream_DRXEvolution": "DX",
        "RF-RDSR-Philips_Azurion": "RF",
    }


def _ct_image(**attrs: object) -> Dataset:
    ds = _image("CT", "1.2.840.10008.5.1.4.1.1.2")
    ds.KVP = "120"
    ds.XRayTubeCurrent = 180
    ds.ExposureTime = 1500  # ms
    ds.ProtocolName = "Chest routine"
    for name, value in attrs.items():
        setattr(ds, name, value)
    return ds


def test_ct_image_header_gives_a_header_derived_acquisition() -> None:
    phantom = Sequence([b.code("113691", "DCM", "IEC Body Dosimetry Phantom")])
    ds = _ct_image(
        CTDIvol=9.16,
        SpiralPitchFactor=0.984,
        TotalCollimationWidth=40.0,
        SingleCollimationWidth=0.625,
        CTDIPhantomTypeCodeSequence=phantom,
        IrradiationEventUID="1.2.3.77",
    )
    result = _ok(ds)
    (event,) = result.events
    assert result.modality == "CT" and result.source is SourceKind.IMAGE_HEADER
    assert event.source is SourceKind.IMAGE_HEADER  # marked header-derived on the record
    assert event.event_uid == "1.2.3.77"  # the RDSR's key: a report supersedes it
    assert (event.ctdivol_mgy, event.ctdi_phantom, event.pitch) == (9.16, "body32", 0.984)
    assert event.acquisition_type == "Spiral Acquisition"
    assert (event.kvp, event.tube_current_ma, event.exposure_time_s) == (120.0, 180.0, 1.5)
    assert (event.nominal_total_collimation_mm, event.nominal_single_collimation_mm) == (40, 0.625)
    assert event.dlp_mgycm is None  # no standard header attribute: never invented
    assert result.totals.number_of_events == 1


def test_ct_images_of_one_series_and_acquisition_share_one_event() -> None:
    from medcoop.dicom import merge_study_events

    series = "1.2.3.500"
    slices = [
        _ct_image(CTDIvol=12.5, SeriesInstanceUID=series, AcquisitionNumber="2")
        for _ in range(3)
    ]
    localizer = _ct_image(
        CTDIvol=0.2, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"], AcquisitionNumber="1"
    )
    events: tuple = ()
    for ds in [*slices, localizer]:
        ds.StudyInstanceUID = slices[0].StudyInstanceUID
        events = merge_study_events(events, _ok(ds).events)
    assert sorted(e.ctdivol_mgy for e in events) == [0.2, 12.5]
    types = {e.ctdivol_mgy: e.acquisition_type for e in events}
    assert types == {0.2: "Constant Angle Acquisition", 12.5: None}


def test_enhanced_ct_ctdivol_from_the_shared_functional_group() -> None:
    exposure = Dataset()
    exposure.CTDIvol = 7.5
    group = Dataset()
    group.CTExposureSequence = Sequence([exposure])
    acquisition = Dataset()
    acquisition.AcquisitionType = "SEQUENCED"
    group.CTAcquisitionTypeSequence = Sequence([acquisition])
    ds = _ct_image(SharedFunctionalGroupsSequence=Sequence([group]), AcquisitionType="SEQUENCED")
    (event,) = _ok(ds).events
    assert event.ctdivol_mgy == 7.5 and event.acquisition_type == "Sequenced Acquisition"


def test_ct_image_without_ctdivol_gives_usage_only() -> None:
    result = _ok(_ct_image())
    assert result.events == () and result.image_count == 1


def test_fleet_ct_studies_without_a_report_have_their_planted_ctdivol() -> None:
    from datetime import date as day

    from medcoop.dicom import merge_study_events
    from medcoop.sim import Fleet

    fleet = Fleet(seed=5, sites=("St Elsewhere",), start=day(2026, 1, 5))
    checked = 0
    for study in fleet.studies(n=200):
        modalities = {ds.Modality for ds in study.datasets}
        if modalities != {"CT"}:
            continue
        events: tuple = ()
        for ds in study.datasets:
            events = merge_study_events(events, _ok(ds).events)
        planted = {e.event_uid: e.ctdivol_mgy for e in study.truth.events if e.image_sop_uid}
        assert {e.event_uid: e.ctdivol_mgy for e in events} == pytest.approx(planted)
        assert all(e.source is SourceKind.IMAGE_HEADER for e in events)
        checked += 1
    assert checked >= 10
