"""A study's dose at the hub never depends on the order its objects arrive in.

A real edge receives a four-view mammography study (one RDSR and four images, each image
carrying its exposure's Irradiation Event UID) over pynetdicom C-STORE, in every one of
the 120 orders, and delivers to a real hub served by uvicorn. Every order must end with
the report's four events and the report's totals (issue 9: an image arriving after its
report used to replace the report's event, leaving one header event beside the report's
totals). A slow order then makes the edge send a record after every object, so the
hub's own merging of later records is exercised too.
"""

from __future__ import annotations

import copy
import sqlite3
import time
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medcoop.edge.config import HubSettings, StowSettings
from medcoop.edge.node import EdgeNode

from .conftest import LiveHub, fleet_studies, make_settings
from .test_dimse import scu

pytestmark = pytest.mark.slow


def _mammography_study() -> Any:
    return next(
        s
        for s in fleet_studies(80)
        if sorted(ds.Modality for ds in s.datasets) == ["MG", "MG", "MG", "MG", "SR"]
    )


def _renamed(datasets: list[Dataset], tag: str) -> list[Dataset]:
    """Copies of ``datasets`` with every instance UID (study, series, SOP, event) renamed."""
    mapping: dict[str, str] = {}

    def rename(ds: Dataset) -> None:
        for element in ds:
            if element.VR == "SQ":
                for item in element.value:
                    rename(item)
            elif element.VR == "UI" and element.value and element.keyword not in (
                "SOPClassUID",
                "ReferencedSOPClassUID",
                "CodingSchemeUID",
                "MappingResourceUID",
            ):
                value = str(element.value)
                if not value.startswith("1.2.840.10008."):
                    if value not in mapping:
                        mapping[value] = generate_uid(entropy_srcs=[value, tag])
                    element.value = mapping[value]

    out = []
    for ds in datasets:
        clone = copy.deepcopy(ds)
        rename(clone)
        clone.file_meta.MediaStorageSOPInstanceUID = clone.SOPInstanceUID
        out.append(clone)
    return out


def _send(port: int, datasets: list[Dataset], pause_s: float = 0.0) -> list[int]:
    ae = scu("MG1")
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    statuses = []
    for index, ds in enumerate(datasets):
        if pause_s and index:
            time.sleep(pause_s)
        assoc = ae.associate("127.0.0.1", port, ae_title="MEDCOOP")
        assert assoc.is_established
        try:
            statuses.append(int(assoc.send_c_store(ds).Status))
        finally:
            assoc.release()
    return statuses


def _hub_studies(hub: LiveHub) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(hub.db_path) as conn:
        rows = conn.execute(
            "SELECT s.study_uid, s.total_agd_left_mgy, s.total_agd_right_mgy, "
            "count(e.event_uid), group_concat(DISTINCT e.source), "
            "round(sum(e.agd_mgy), 6) FROM studies s "
            "LEFT JOIN irradiation_events e ON e.study_id = s.id GROUP BY s.id"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def _wait(hub: LiveHub, node: EdgeNode, count: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(_hub_studies(hub)) >= count and not node.status().backlog.size:
            return
        time.sleep(0.2)
    raise AssertionError(f"the hub holds {len(_hub_studies(hub))} of {count} studies")


def _node(tmp_path: Path, hub: LiveHub) -> EdgeNode:
    settings = make_settings(
        tmp_path,
        hub=HubSettings(url=hub.url, site_token=hub.site_token()),
        stow=StowSettings(enabled=False),
        study_completion_timeout_s=0.5,
    )
    return EdgeNode(settings)


def _expected(study: Any) -> tuple[Any, ...]:
    truth = study.truth
    return (truth.totals.total_agd_left_mgy, truth.totals.total_agd_right_mgy,
            truth.event_count, "rdsr")  # fmt: skip


def test_every_arrival_order_gives_the_report_events_at_the_hub(
    tmp_path: Path, live_hub: LiveHub
) -> None:
    study = _mammography_study()
    orders = list(permutations(range(len(study.datasets))))
    assert len(orders) == 120
    node = _node(tmp_path, live_hub)
    node.start()
    try:
        for number, order in enumerate(orders):
            renamed = _renamed(list(study.datasets), f"order-{number}")
            assert set(_send(node.dicom_port, [renamed[i] for i in order])) == {0x0000}
        _wait(live_hub, node, len(orders))
    finally:
        node.stop()
    at_hub = _hub_studies(live_hub)
    assert len(at_hub) == len(orders)
    left, right, count, source = _expected(study)
    for totals_left, totals_right, events, sources, agd_sum in at_hub.values():
        assert (events, sources) == (count, source)
        assert totals_left == pytest.approx(left) and totals_right == pytest.approx(right)
        # events and totals agree: the report's events, not one header's
        assert agd_sum == pytest.approx((left or 0) + (right or 0))


def test_a_record_per_object_still_ends_with_the_report_events(
    tmp_path: Path, live_hub: LiveHub
) -> None:
    study = _mammography_study()
    report = next(i for i, ds in enumerate(study.datasets) if ds.Modality == "SR")
    images = [i for i in range(len(study.datasets)) if i != report]
    node = _node(tmp_path, live_hub)
    node.start()
    try:
        for number, order in enumerate(([*images[:2], report, *images[2:]], [report, *images])):
            renamed = _renamed(list(study.datasets), f"slow-{number}")
            # longer than completion timeout and settle: the edge sends a record each time
            statuses = _send(node.dicom_port, [renamed[i] for i in order], pause_s=3.0)
            assert set(statuses) == {0x0000}
        _wait(live_hub, node, 2)
        time.sleep(3.0)  # the last object's record
        _wait(live_hub, node, 2)
    finally:
        node.stop()
    at_hub = _hub_studies(live_hub)
    left, right, count, source = _expected(study)
    assert len(at_hub) == 2
    for totals_left, totals_right, events, sources, agd_sum in at_hub.values():
        assert (events, sources) == (count, source)
        assert totals_left == pytest.approx(left) and totals_right == pytest.approx(right)
        assert agd_sum == pytest.approx((left or 0) + (right or 0))


def test_ct_header_dose_sent_first_is_replaced_by_the_report_at_the_hub(
    tmp_path: Path, live_hub: LiveHub
) -> None:
    study = next(
        s
        for s in fleet_studies(80)
        if {ds.Modality for ds in s.datasets} == {"CT", "SR"} and len(s.datasets) >= 3
    )
    renamed = _renamed(list(study.datasets), "ct-header-first")
    for ds in renamed:
        if ds.Modality == "CT":
            del ds.IrradiationEventUID  # as many scanners: header events get their own keys
    images = [ds for ds in renamed if ds.Modality == "CT"]
    report = [ds for ds in renamed if ds.Modality == "SR"]
    node = _node(tmp_path, live_hub)
    node.start()
    try:
        assert set(_send(node.dicom_port, images)) == {0x0000}
        _wait(live_hub, node, 1)  # the header-only record reached the hub
        with sqlite3.connect(live_hub.db_path) as conn:
            first = conn.execute("SELECT source FROM irradiation_events").fetchall()
        assert first and {row[0] for row in first} == {"image_header"}
        assert set(_send(node.dicom_port, report)) == {0x0000}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite3.connect(live_hub.db_path) as conn:
                sources = {r[0] for r in conn.execute("SELECT source FROM irradiation_events")}
            if sources == {"rdsr"} and not node.status().backlog.size:
                break
            time.sleep(0.2)
    finally:
        node.stop()
    with sqlite3.connect(live_hub.db_path) as conn:
        rows = conn.execute("SELECT source, dlp_mgycm FROM irradiation_events").fetchall()
        total = conn.execute("SELECT total_dlp_mgycm FROM studies").fetchone()[0]
    assert len(rows) == study.truth.event_count and {r[0] for r in rows} == {"rdsr"}
    assert total == pytest.approx(study.truth.totals.total_dlp_mgycm)
