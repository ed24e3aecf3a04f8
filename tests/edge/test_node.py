"""End to end: `medcoop edge serve` as a subprocess, killed with SIGKILL mid-batch and
restarted, repeatedly, while a modality (pynetdicom) sends and the hub receives over HTTP.
Then the privacy check: nothing the hub received contains a planted identifier.
"""

from __future__ import annotations

import random
import re
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from medcoop.deid.pseudonym import load_or_create_key
from medcoop.edge.config import HubSettings, StowSettings
from medcoop.edge.node import EdgeNode
from tests.common.privacy import leaked_values

from .conftest import EdgeProcess, LiveHub, fleet_studies, make_settings
from .test_dimse import send_study


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, hub: LiveHub, port: int) -> Path:
    path = folder / "edge.toml"
    path.write_text(
        f"""
name = "killable"
site_timezone = "Europe/London"
study_completion_timeout_s = 1
[dicom]
host = "127.0.0.1"
port = {port}
allowed_calling_aets = ["*"]
[stow]
enabled = false
[hub]
url = "{hub.url}"
site_token = "{hub.site_token()}"
batch_size = 7
backoff_base_s = 0.05
backoff_max_s = 0.5
[storage]
data_dir = "state"
min_free_bytes = 0
"""
    )
    return path


def hub_events_per_study(hub: LiveHub) -> dict[str, int]:
    with sqlite3.connect(hub.db_path) as conn:
        rows = conn.execute(
            "SELECT s.study_uid, count(e.event_uid) FROM studies s "
            "LEFT JOIN irradiation_events e ON e.study_id = s.id GROUP BY s.study_uid"
        ).fetchall()
    return dict(rows)


def settled(hub: LiveHub, expected: dict[str, int], all_studies: set[str]) -> bool:
    at_hub = hub_events_per_study(hub)
    return set(at_hub) == all_studies and all(at_hub[u] == n for u, n in expected.items())


@pytest.mark.slow
def test_sigkill_mid_batch_loses_and_duplicates_nothing(tmp_path: Path, live_hub: LiveHub) -> None:
    port = free_port()
    config = write_config(tmp_path, live_hub, port)
    studies = fleet_studies(24, seed=17)
    rng = random.Random(4)
    pending = list(studies)
    rounds = cut_short = 0
    while pending:
        edge = EdgeProcess(config, port)
        rounds += 1
        killer = None
        if rounds <= 3:  # kill three times at a random moment, then let it finish
            # Within the time the sends take, so that the kill lands mid-batch.
            killer = threading.Timer(rng.uniform(0.1, 0.6), edge.kill)
            killer.start()
        still: list[object] = []
        for study in pending:
            try:
                statuses = send_study(port, study)
            except Exception:  # the edge died mid-association
                statuses = []
            if not statuses or set(statuses) != {0}:
                still.append(study)  # not acknowledged: the modality sends it again
        cut_short += bool(still)
        pending = still
        if killer is not None:
            killer.join()
            if edge.proc.poll() is None:
                edge.kill()
        elif not pending:
            break
        else:
            edge.kill()
    assert rounds >= 2 and cut_short >= 1  # a kill did leave studies unacknowledged
    if edge.proc.poll() is not None:  # killed after acknowledging its last study
        edge = EdgeProcess(config, port)
    # The last edge runs until idle studies are complete and the outbox is drained.
    key = load_or_create_key(tmp_path / "site.key")
    # Events are checked where a dose report states them (a CT study sending only image
    # headers has no per-event dose to count); every study must be there either way.
    expected = {
        key.remap_uid(s.truth.study_instance_uid): s.truth.event_count
        for s in studies
        if s.truth.rdsr_sop_instance_uid
    }
    all_studies = {key.remap_uid(s.truth.study_instance_uid) for s in studies}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not settled(live_hub, expected, all_studies):
        time.sleep(0.2)
    assert edge.terminate() == 0  # SIGTERM: graceful
    state = sqlite3.connect(tmp_path / "state" / "edge.sqlite3")
    at_hub = hub_events_per_study(live_hub)
    assert set(at_hub) == all_studies
    wrong = {uid for uid in expected if at_hub.get(uid) != expected[uid]}
    rows = [
        state.execute(
            "SELECT dirty, has_rdsr, mpps_completed, last_record_key IS NOT NULL, "
            "json_array_length(json_extract(state, '$.events')), json_extract(state, '$.usage') "
            "FROM studies WHERE study_uid = ?",
            (uid,),
        ).fetchall()
        for uid in wrong
    ]
    assert {u: at_hub[u] for u in expected} == expected, rows  # every event, once
    queued = [r[0] for r in state.execute("SELECT record_key FROM outbox")]
    assert len(queued) == len(set(queued))
    assert set(queued) == set(live_hub.received_keys())
    assert not any(re.search(r"Traceback", line) for line in edge.stderr)


def test_privacy_nothing_identifying_reaches_the_hub(tmp_path: Path, live_hub: LiveHub) -> None:
    from datetime import date

    from medcoop.sim import Fleet

    fleet = Fleet(
        seed=23, sites=("St Elsewhere", "County General"), start=date(2026, 3, 2), adversarial=True
    )
    studies = list(fleet.studies(n=30))
    settings = make_settings(
        tmp_path,
        hub=HubSettings(url=live_hub.url, site_token=live_hub.site_token()),
        stow=StowSettings(enabled=False),
        study_completion_timeout_s=0.5,
    )
    node = EdgeNode(settings)
    node.start()
    try:
        for study in studies:
            send_study(node.dicom_port, study)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            len(set(live_hub.study_uids())) < len(studies) or node.status().backlog.size
        ):
            time.sleep(0.2)
    finally:
        node.stop()
    assert len(set(live_hub.study_uids())) == len(studies)
    assert any(s.truth.adversarial for s in studies)  # identifiers planted in odd places
    identifying = fleet.identifying_values()
    received = b"\n".join(live_hub.recorder.bodies)
    received += b"".join(p.read_bytes() for p in live_hub.db_path.parent.glob("hub.sqlite3*"))
    assert leaked_values(identifying, received) == []
