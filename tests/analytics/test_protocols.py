"""Protocol summaries, opt-in publishing, side-by-side comparison, JSON and HTML export."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from medcoop.analytics.protocols import (
    PublishedProtocol,
    PublishError,
    compare,
    export_json,
    publish,
    summarise_protocols,
)
from medcoop.hub.presenters.html import render_protocol_sheet
from medcoop.records import UsageFacts

from .factories import ct_event, record

AT = datetime(2026, 3, 2, tzinfo=UTC)


def _chest(i: int, ctdivol: float, kvp: float = 120.0, protocol: str = "Chest routine"):
    return record(
        f"30.{i}",
        events=(
            ct_event(f"30.{i}.1", ctdivol, ctdivol * 30, kvp=kvp, pitch=1.0, target_region="Chest"),
        ),
        usage=UsageFacts(performed_protocol=protocol),
    )


def test_summary_quartiles_are_hand_checkable() -> None:
    studies = [_chest(i, c) for i, c in enumerate((4.0, 6.0, 8.0, 10.0, 12.0))]
    (summary,) = summarise_protocols(studies).values()
    assert summary.name == "Chest routine" and summary.n_studies == 5
    assert summary.body_region == "Chest"
    ctdi = summary.quantities["ctdivol_mgy"]
    assert (ctdi.p25, ctdi.median, ctdi.p75) == (6.0, 8.0, 10.0)
    assert summary.quantities["dlp_mgycm"].median == 240.0
    assert summary.quantities["kvp"].median == 120.0 and "dap_gycm2" not in summary.quantities


def test_publishing_needs_enough_studies_and_a_description() -> None:
    few = summarise_protocols([_chest(i, 5.0) for i in range(3)])["Chest routine"]
    with pytest.raises(PublishError, match="3 studies, 10 needed"):
        publish(few, description="low dose chest", published_at=AT)
    many = summarise_protocols([_chest(i, 5.0) for i in range(10)])["Chest routine"]
    with pytest.raises(PublishError, match="description"):
        publish(many, description=" ", published_at=AT)
    published = publish(many, description="low dose chest", published_at=AT)
    again = PublishedProtocol.model_validate_json(export_json(published))
    assert again == published


def test_compare_side_by_side() -> None:
    mine = summarise_protocols([_chest(i, 10.0, kvp=120) for i in range(10)])["Chest routine"]
    theirs = summarise_protocols([_chest(i, 5.0, kvp=100) for i in range(10)])["Chest routine"]
    rows = {r.quantity: r for r in compare(mine, theirs)}
    assert rows["ctdivol_mgy"].ratio == pytest.approx(2.0)
    assert rows["kvp"].own_median == 120 and rows["kvp"].other_median == 100
    assert "dap_gycm2" not in rows


def test_html_sheet_shows_values_and_escapes_user_text() -> None:
    summary = summarise_protocols([_chest(i, 8.0) for i in range(12)])["Chest routine"]
    published = publish(
        summary,
        description="<script>alert(1)</script> 100 kV",
        published_at=AT,
        publisher="County General",
    )
    html = render_protocol_sheet(published)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Chest routine" in html and "County General" in html and "ctdivol_mgy" in html
    assert "<td>12</td>" in html


def test_localizers_are_not_the_protocols_technique() -> None:
    studies = []
    for i, ctdivol in enumerate((4.0, 6.0, 8.0, 10.0, 12.0)):
        scout = ct_event(
            f"31.{i}.0", 0.2, 6.0, kvp=100.0, tube_current_ma=30.0,
            acquisition_type="Constant Angle Acquisition",
        )  # fmt: skip
        spiral = ct_event(
            f"31.{i}.1", ctdivol, ctdivol * 30, kvp=120.0, tube_current_ma=200.0,
            acquisition_type="Spiral Acquisition",
        )  # fmt: skip
        studies.append(
            record(
                f"31.{i}",
                events=(scout, spiral),
                usage=UsageFacts(performed_protocol="Chest routine"),
            )
        )
    (summary,) = summarise_protocols(studies).values()
    assert summary.n_acquisitions == 5  # the five spirals, not the scouts
    assert summary.quantities["ctdivol_mgy"].median == 8.0
    assert summary.quantities["kvp"].p25 == 120.0
    assert summary.quantities["tube_current_ma"].median == 200.0
