"""Pages stay within a fixed number of SQL statements, whatever the data (no N+1).

Each page is counted for two organisations whose data differ in size (A has 40 CT and 3
fluoroscopy studies, B 12 and 3); a statement per row, per site or per alert would make
the counts differ. Sign-in's own statements (token lookup) are counted too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from medcoop.hub.db.models import Role
from tests.hub.web.conftest import World, sign_in

#: page → most statements it may run
BUDGET = {
    "/overview": 12,
    "/dose": 14,
    "/dose?exam_type=ct_head&sort=-total_dlp_mgycm": 14,
    "/dose/charts/distribution.json?exam_type=ct_head": 12,
    "/dose/charts/trend.json": 8,
    "/dose/charts/size.json": 12,
    "/alerts": 8,
    "/alerts/rules": 8,
    "/utilization": 12,
    "/benchmarks": 14,
    "/protocols": 14,
    "/admin": 18,  # + the edges service (its sites and reports: backlog, contact)
    "/installs": 8,
}


@contextmanager
def _counting(world: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = world.app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("path", list(BUDGET))
def test_page_statement_count_is_bounded_and_independent_of_size(world: World, path: str) -> None:
    counts = []
    for tenant in (world.a, world.b):
        browser = sign_in(world.app, tenant, Role.ORG_ADMIN)
        browser.get(path)  # warm per-process caches (DRL table, exam types)
        with _counting(world) as seen:
            answer = browser.get(path)
        assert answer.status_code == 200, answer.text[:300]
        counts.append(len(seen))
    assert max(counts) <= BUDGET[path], (path, counts)
    assert counts[0] == counts[1], (path, counts)
