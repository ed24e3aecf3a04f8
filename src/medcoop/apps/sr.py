"""DICOM SR for app results: TID 1500 measurement reports built and checked with highdicom.

:func:`measurement_report` turns an app's :class:`~medcoop.apps.sdk.Measurement` list into a
Comprehensive 3D SR holding a TID 1500 *Imaging Measurement Report*: the app (id and
version), its vendor and its model are the **observer device** (TID 1004), the model is
also each group's algorithm identification, and the report lies in a **new series of the
original study** (patient and study attributes copied from the study's objects, which
are its evidence). :func:`validate_sr` checks a report before it may leave the app's
sandbox or go to a PACS: highdicom must read it back, it must be TID 1500, of the given
study, in a series of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from medcoop.apps.errors import InvalidReportError
from medcoop.apps.sdk import AppContext, EdgeStudy, Measurement

__all__ = ["SERIES_NUMBER", "device_observer_uid", "measurement_report", "validate_sr"]

#: Series number of app reports (high, so viewers list them after the acquisition's series).
SERIES_NUMBER = 9001
_SR_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    }
)


def device_observer_uid(context: AppContext) -> str:
    """A stable UID for the app version as an observer device (the same on every edge)."""
    return generate_uid(entropy_srcs=["medcoop-app", context.app_id, context.app_version])


def measurement_report(
    study: EdgeStudy | Sequence[Dataset],
    measurements: Sequence[Measurement],
    context: AppContext,
    *,
    procedure: hd.sr.CodedConcept | None = None,
    series_number: int = SERIES_NUMBER,
) -> Dataset:
    """Return a validated TID 1500 Comprehensive 3D SR of ``measurements``.

    Parameters
    ----------
    study : EdgeStudy or sequence of pydicom.dataset.Dataset
        The original study's objects (the report joins that study; the first object's
        patient and study attributes are copied, each object referenced becomes evidence).
    measurements : sequence of Measurement
        The values, grouped into one TID 1501 measurement group per ``Measurement.group``.
    context : AppContext
        The running app (observer device: name, version, vendor, model).
    procedure : CodedConcept, optional
        The procedure reported; "Imaging procedure" when not given.
    series_number : int
        The new series' number.

    Raises
    ------
    InvalidReportError
        The report fails :func:`validate_sr` (a bug in the app or here: never sent).
    """
    datasets = list(study.datasets if isinstance(study, EdgeStudy) else study)
    if not datasets:
        raise InvalidReportError(["no objects of the original study to report on"])
    study_uid = str(datasets[0].StudyInstanceUID)
    evidence = [ds for ds in datasets if str(ds.get("StudyInstanceUID", "")) == study_uid]
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=device_observer_uid(context),
            name=_lo(context.observer_name),
            manufacturer_name=_lo(context.vendor),
            model_name=_lo(_model_label(context)),
            serial_number=_lo(context.app_version),
        ),
    )
    algorithm = hd.sr.AlgorithmIdentification(
        name=_lo(context.model_name or context.app_id),
        version=_lo(context.model_version or context.app_version),
    )
    by_uid = {str(ds.SOPInstanceUID): ds for ds in evidence}
    groups: dict[str, list[Measurement]] = {}
    for m in measurements:
        groups.setdefault(m.group, []).append(m)
    imaging = [
        _group(name, items, algorithm, by_uid, context) for name, items in groups.items()
    ]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=procedure
        or hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure"),
        imaging_measurements=imaging or None,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=_lo(context.vendor),
        is_complete=True,
        series_description=_lo(f"{context.app_id} results"),
    )
    problems = validate_sr(sr, study_instance_uid=study_uid, original_series=_series(evidence))
    if problems:
        raise InvalidReportError(problems)
    return sr


def _group(
    name: str,
    items: Sequence[Measurement],
    algorithm: hd.sr.AlgorithmIdentification,
    by_uid: dict[str, Dataset],
    context: AppContext,
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    sources = []
    seen: set[str] = set()
    for m in items:
        uid = m.source_sop_instance_uid
        if uid and uid in by_uid and uid not in seen:
            seen.add(uid)
            sources.append(hd.sr.SourceImageForMeasurementGroup.from_source_image(by_uid[uid]))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(entropy_srcs=[context.run_id, context.app_id, name]),
            identifier=_lo(f"{context.app_id} group {name}"),
        ),
        algorithm_id=algorithm,
        measurements=[
            hd.sr.Measurement(
                name=hd.sr.CodedConcept(*m.name),
                value=float(m.value),
                unit=hd.sr.CodedConcept(*m.unit),
                algorithm_id=algorithm,
            )
            for m in items
        ],
        source_images=sources or None,
    )


def validate_sr(
    ds: Dataset,
    *,
    study_instance_uid: str | None = None,
    original_series: Sequence[str] = (),
) -> list[str]:
    """Return what is wrong with an app's SR (an empty list: it may be sent).

    Checks: an SR storage class; highdicom reads it back as a structured report; its
    template is TID 1500 and its root is an Imaging Measurement Report; an observer
    device is named; it carries ``study_instance_uid`` when given; its series is new
    (none of ``original_series``).
    """
    problems: list[str] = []
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class not in _SR_CLASSES:
        return [f"SOP class {sop_class or '(none)'} is not an SR class the runtime sends"]
    try:
        hd.sr.Comprehensive3DSR.from_dataset(ds, copy=True) if sop_class.endswith(
            ".34"
        ) else hd.sr.EnhancedSR.from_dataset(ds, copy=True) if sop_class.endswith(
            ".22"
        ) else hd.sr.ComprehensiveSR.from_dataset(ds, copy=True)
    except Exception as exc:  # highdicom's reasons are many; each is a reason to refuse
        problems.append(f"highdicom cannot read it: {type(exc).__name__}: {exc}")
    templates = [str(item.get("TemplateIdentifier", "")) for item in
                 ds.get("ContentTemplateSequence", [])]
    if templates != ["1500"]:
        problems.append(f"template is {templates or 'not declared'}, not TID 1500")
    concept = ds.get("ConceptNameCodeSequence")
    if not concept or str(concept[0].CodeValue) != "126000":
        problems.append("root is not an Imaging Measurement Report (DCM 126000)")
    if not _has_device_observer(ds):
        problems.append("no observer device is named")
    if study_instance_uid is not None and str(ds.get("StudyInstanceUID", "")) != study_instance_uid:
        problems.append("Study Instance UID is not the original study's")
    if str(ds.get("SeriesInstanceUID", "")) in set(original_series):
        problems.append("the report is in one of the original series, not a new one")
    return problems


def _has_device_observer(ds: Dataset) -> bool:
    for item in ds.get("ContentSequence", []):
        name = item.get("ConceptNameCodeSequence")
        if not name or str(name[0].CodeValue) != "121005":  # Observer Type
            continue
        value = item.get("ConceptCodeSequence")
        if value and str(value[0].CodeValue) == "121007":  # Device
            return True
    return False


def _series(datasets: Sequence[Dataset]) -> list[str]:
    return sorted({str(ds.get("SeriesInstanceUID", "")) for ds in datasets})


def _model_label(context: AppContext) -> str:
    if context.model_name:
        return f"{context.model_name} {context.model_version or ''}".strip()
    return context.app_id


def _lo(text: str) -> str:
    # LO/SH values: at most 64 characters, no backslash
    return text.replace("\\", "/")[:64]
