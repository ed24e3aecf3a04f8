"""Studies no dose report covers get their dose from image headers (issue 15).

Over the simulated fleet: a mammography study sent as images only has its total AGD
per breast, and a CT study without an RDSR has its acquisitions' CTDIvol, marked
header-derived; a study with a report keeps the report's events and totals.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from medcoop.edge.config import EdgeSettings
from medcoop.edge.node import open_pipeline
from medcoop.edge.pipeline import Pipeline
from medcoop.records import SourceKind, StudyRecord

from .conftest import feed_study, fleet_studies


@pytest.fixture
def pipeline(edge_settings: EdgeSettings) -> Iterator[Pipeline]:
    store, pipe = open_pipeline(edge_settings)
    yield pipe
    store.close()


def test_fleet_studies_without_a_report_have_header_dose(pipeline: Pipeline) -> None:
    studies = fleet_studies(160)
    for study in studies:
        feed_study(pipeline, study)
    pipeline.emit_due(now=2e10)
    records = {
        r.study_uid: r
        for r in (StudyRecord.model_validate_json(p.body) for p in pipeline.outbox.pending(10_000))
    }
    by_truth = {pipeline.key.remap_uid(s.truth.study_instance_uid): s for s in studies}
    checked = {"MG": 0, "CT": 0}
    for uid, record in records.items():
        truth = by_truth[uid].truth
        if truth.rdsr_sop_instance_uid or record.modality not in checked:
            continue
        checked[record.modality] += 1
        assert record.events and all(e.source is SourceKind.IMAGE_HEADER for e in record.events)
        if record.modality == "MG":
            for side, stated in (
                ("L", record.totals.total_agd_left_mgy),
                ("R", record.totals.total_agd_right_mgy),
            ):
                agd = [e.agd_mgy for e in record.events if e.laterality == side and e.agd_mgy]
                assert stated == (pytest.approx(sum(agd)) if agd else None)
            assert (record.totals.total_agd_left_mgy or record.totals.total_agd_right_mgy)
        else:
            planted = sorted(e.ctdivol_mgy for e in truth.events if e.image_sop_uid)
            assert sorted(e.ctdivol_mgy for e in record.events) == pytest.approx(planted)
        assert record.totals_disagree == ()
    assert checked["MG"] >= 5 and checked["CT"] >= 5
