"""CT dose: TID 10011 (CT Radiation Dose) with TID 10013/10014/10015 per acquisition.

Reads each CT Acquisition's protocol, target region, acquisition type, CTDIvol, DLP,
phantom, kVp, mA, exposure time, pitch, collimation, scanning length, number of sources
(with per-source parameters for dual-source scanners) and Dose Check alerts and
notifications, plus the CT Accumulated Dose Data totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medcoop import records
from medcoop.dicom import codes as c
from medcoop.dicom.content import Node
from medcoop.dicom.model import CtSourceParameters, DoseEvent, make_event, make_totals
from medcoop.dicom.units import Quantity

#: What a CT Dose Check notice is about (:class:`medcoop.records.DoseCheckNotice`).
Metric = Literal["ctdivol", "dlp"]
NoticeKind = Literal["alert", "notification"]

__all__ = ["CtResult", "read_ct"]

_PHANTOMS = {c.PHANTOM_HEAD16: "head16", c.PHANTOM_BODY32: "body32"}


@dataclass(frozen=True, slots=True)
class CtResult:
    """What TID 10011 gave: events, totals and per-source parameters by event UID."""

    events: tuple[DoseEvent, ...]
    totals: records.DoseTotals
    sources: dict[str, tuple[CtSourceParameters, ...]]


def _sources(params: Node) -> tuple[CtSourceParameters, ...]:
    found = [
        CtSourceParameters(
            source_id=node.string(c.XRAY_SOURCE_ID),
            kvp=node.number(c.KVP, Quantity.VOLTAGE_KV),
            max_tube_current_ma=node.number(c.MAX_XRAY_TUBE_CURRENT, Quantity.CURRENT_MA),
            tube_current_ma=node.number(c.XRAY_TUBE_CURRENT, Quantity.CURRENT_MA),
            exposure_time_per_rotation_s=node.number(c.EXPOSURE_TIME_PER_ROTATION, Quantity.TIME_S),
        )
        for node in params.find_all(c.CT_XRAY_SOURCE_PARAMETERS)
    ]
    # order by source identification (A before B), as a physicist reads them
    found.sort(key=lambda s: s.source_id or "")
    return tuple(found)


def _is_yes(node: Node, key: str) -> bool:
    coded = node.coded(key)
    return coded is not None and coded[0] == c.YES


def _dose_checks(dose: Node) -> tuple[records.DoseCheckNotice, ...]:
    notices: list[records.DoseCheckNotice] = []
    alert = dose.find(c.DOSE_CHECK_ALERT_DETAILS)
    if alert is not None:
        reason = alert.find(c.REASON_FOR_PROCEEDING) is not None
        alert_checks: tuple[tuple[Metric, str, str, str, Quantity], ...] = (
            ("dlp", c.DLP_ALERT_CONFIGURED, c.DLP_ALERT_VALUE,
             c.ACCUMULATED_DLP_FORWARD_ESTIMATE, Quantity.DLP_MGYCM),
            ("ctdivol", c.CTDIVOL_ALERT_CONFIGURED, c.CTDIVOL_ALERT_VALUE,
             c.ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE, Quantity.DOSE_MGY),
        )  # fmt: skip
        for metric, configured, value, estimate, quantity in alert_checks:
            if _is_yes(alert, configured):
                notices.append(
                    _notice("alert", metric, alert.number(value, quantity),
                            alert.number(estimate, quantity), reason)
                )  # fmt: skip
        if not notices:
            # no alert value configured, yet the forward estimate is reported: keep it
            forward_dlp = alert.number(c.ACCUMULATED_DLP_FORWARD_ESTIMATE, Quantity.DLP_MGYCM)
            if forward_dlp is not None:
                notices.append(_notice("alert", None, None, forward_dlp, reason))
    notification = dose.find(c.DOSE_CHECK_NOTIFICATION_DETAILS)
    if notification is not None:
        notification_checks: tuple[tuple[Metric, str, str, str, Quantity], ...] = (
            ("dlp", c.DLP_NOTIFICATION_CONFIGURED, c.DLP_NOTIFICATION_VALUE,
             c.DLP_FORWARD_ESTIMATE, Quantity.DLP_MGYCM),
            ("ctdivol", c.CTDIVOL_NOTIFICATION_CONFIGURED, c.CTDIVOL_NOTIFICATION_VALUE,
             c.CTDIVOL_FORWARD_ESTIMATE, Quantity.DOSE_MGY),
        )  # fmt: skip
        for metric, configured, value, estimate, quantity in notification_checks:
            if _is_yes(notification, configured):
                notices.append(
                    _notice("notification", metric, notification.number(value, quantity),
                            notification.number(estimate, quantity), False)
                )  # fmt: skip
    return tuple(notices)


def _notice(
    kind: NoticeKind,
    metric: Metric | None,
    configured: float | None,
    estimate: float | None,
    reason: bool,
) -> records.DoseCheckNotice:
    return records.DoseCheckNotice(
        kind=kind,
        metric=metric,
        configured_value=configured if configured is None or configured >= 0 else None,
        forward_estimate=estimate if estimate is None or estimate >= 0 else None,
        reason_given=reason,
    )


def _event(node: Node, index: int, fallback_uid: str, notes: list[str]) -> DoseEvent:
    params = node.find(c.CT_ACQUISITION_PARAMETERS)
    dose = node.find(c.CT_DOSE)
    uid = node.string(c.IRRADIATION_EVENT_UID) or f"{fallback_uid}.{index}"
    fields: dict[str, object] = {
        "event_uid": uid,
        "kind": records.EventKind.CT_ACQUISITION,
        "source": records.SourceKind.RDSR,
        "protocol": node.string(c.ACQUISITION_PROTOCOL),
        "target_region": node.string(c.TARGET_REGION),
        "acquisition_type": node.string(c.CT_ACQUISITION_TYPE),
    }
    if params is not None:
        sources = _sources(params)
        count = params.count(c.NUMBER_OF_XRAY_SOURCES)
        fields.update(
            exposure_time_s=params.number(c.EXPOSURE_TIME, Quantity.TIME_S),
            scanning_length_mm=params.number(c.SCANNING_LENGTH, Quantity.LENGTH_MM),
            nominal_single_collimation_mm=params.number(
                c.NOMINAL_SINGLE_COLLIMATION, Quantity.LENGTH_MM
            ),
            nominal_total_collimation_mm=params.number(
                c.NOMINAL_TOTAL_COLLIMATION, Quantity.LENGTH_MM
            ),
            pitch=params.count(c.PITCH_FACTOR),
            number_of_sources=int(count) if count is not None and 1 <= count <= 4 else None,
        )
        if sources:
            # the record has one kVp/mA: source A's (every source is in Extraction.ct_sources)
            fields.update(kvp=sources[0].kvp, tube_current_ma=sources[0].tube_current_ma)
    if dose is not None:
        phantom = dose.coded(c.CTDIW_PHANTOM_TYPE)
        fields.update(
            ctdivol_mgy=dose.number(c.MEAN_CTDIVOL, Quantity.DOSE_MGY),
            dlp_mgycm=dose.number(c.DLP, Quantity.DLP_MGYCM),
            ctdi_phantom=_PHANTOMS.get(phantom[0]) if phantom else None,
            effective_dose_msv=dose.number(c.EFFECTIVE_DOSE, Quantity.DOSE_MSV),
            dose_check=_dose_checks(dose),
        )
    return make_event(fields, notes)


def read_ct(root: Node, fallback_uid: str, notes: list[str]) -> CtResult:
    """Read a TID 10011 tree.

    Parameters
    ----------
    root : Node
        The document root of an X-Ray Radiation Dose SR whose procedure is CT.
    fallback_uid : str
        Prefix for derived event UIDs when a device omits Irradiation Event UID.
    notes : list of str
        Receives a note for each value read but not kept.
    """
    events: list[DoseEvent] = []
    sources: dict[str, tuple[CtSourceParameters, ...]] = {}
    for index, node in enumerate(root.find_all(c.CT_ACQUISITION), start=1):
        event = _event(node, index, fallback_uid, notes)
        events.append(event)
        params = node.find(c.CT_ACQUISITION_PARAMETERS)
        if params is not None:
            sources[event.event_uid] = _sources(params)
    accumulated = root.find(c.CT_ACCUMULATED_DOSE_DATA)
    total_dlp = count = None
    if accumulated is not None:
        total_dlp = accumulated.number(c.CT_DLP_TOTAL, Quantity.DLP_MGYCM)
        count = accumulated.count(c.TOTAL_NUMBER_OF_IRRADIATION_EVENTS)
    if total_dlp is None and events and all(e.dlp_mgycm is not None for e in events):
        total_dlp = sum(e.dlp_mgycm or 0.0 for e in events)
    totals = make_totals(
        {
            "total_dlp_mgycm": total_dlp,
            "number_of_events": int(count) if count is not None else len(events),
        },
        notes,
    )
    return CtResult(tuple(events), totals, sources)
