"""The study table's keyset pages: every study once, in order, for every sort key."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from medcoop.hub.db.models import Study
from medcoop.hub.db.tenancy import scope_session
from medcoop.hub.errors import HubError
from medcoop.hub.services.analytics import SORTABLE, TableFilter, study_page
from tests.hub.web.conftest import World


def _walk(session: Any, filters: TableFilter, sort: str, limit: int) -> list[dict[str, Any]]:
    rows, cursor = [], None
    for _ in range(100):
        table = study_page(session, filters, sort=sort, cursor=cursor, limit=limit)
        rows += table.rows
        cursor = table.next_cursor
        if cursor is None:
            return rows
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("sort", [*SORTABLE, *(f"-{c}" for c in SORTABLE)])
def test_pages_cover_every_study_once_in_order(world: World, sort: str) -> None:
    with world.app.state.session_factory() as session:
        scope_session(session, world.a.org_id)
        total = session.scalar(select(func.count()).select_from(Study))
        rows = _walk(session, TableFilter(), sort, limit=7)
    assert len(rows) == total == 43
    assert len({r["id"] for r in rows}) == total
    column = {"events": "events"}.get(sort.lstrip("-"), sort.lstrip("-"))
    values = [r[column] for r in rows]
    present = [v for v in values if v is not None]
    assert values[: len(present)] == present  # missing values last
    assert present == sorted(present, reverse=sort.startswith("-"))


def test_post_filters_and_sql_filters_agree_with_flat_rows(world: World) -> None:
    with world.app.state.session_factory() as session:
        scope_session(session, world.a.org_id)
        every = _walk(session, TableFilter(), "-study_at", limit=50)
        heads = _walk(session, TableFilter(exam_type="ct_head"), "study_at", limit=4)
        adults = _walk(session, TableFilter(min_age_years=40, max_age_years=60), "age_years", 5)
        with pytest.raises(HubError, match="cursor"):
            study_page(session, TableFilter(), cursor="bm90IGpzb24")
        with pytest.raises(HubError, match="sort"):
            study_page(session, TableFilter(), sort="pseudonym")
    assert {r["id"] for r in heads} == {r["id"] for r in every if r["exam_type"] == "ct_head"}
    assert len(heads) == 20
    expected = {r["id"] for r in every if r["age_years"] is not None and 40 <= r["age_years"] <= 60}
    assert {r["id"] for r in adults} == expected and expected
