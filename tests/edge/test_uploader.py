"""Outbox and uploader against the real hub over HTTP: batches, idempotency, outages, 401."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from medcoop.edge.config import HubSettings
from medcoop.edge.outbox import Outbox
from medcoop.edge.store import EdgeStore
from medcoop.edge.uploader import Uploader, full_jitter_delay_s
from medcoop.records import DeviceInfo, PatientFacts, StudyRecord, record_key_for

from .conftest import LiveHub


def make_record(index: int) -> StudyRecord:
    content = {
        "study_uid": f"2.25.{1000 + index}",
        "modality": "CT",
        "device": DeviceInfo(device_key="d" * 32, manufacturer="Acme").model_dump(),
        "patient": PatientFacts(pseudonym=f"{index:016x}").model_dump(),
    }
    draft = StudyRecord.model_validate({**content, "record_key": "0" * 64})
    key = record_key_for(draft.model_dump(mode="json", exclude={"record_key"}))
    return draft.model_copy(update={"record_key": key})


def fill(outbox: Outbox, n: int, start: int = 0) -> None:
    with outbox.store.transaction() as conn:
        for i in range(start, start + n):
            outbox.enqueue(conn, make_record(i))


def test_enqueue_is_idempotent_and_durable(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "edge.sqlite3")
    outbox = Outbox(store)
    fill(outbox, 3)
    fill(outbox, 3)  # same content, same keys: no-op
    store.close()
    reopened = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    assert reopened.backlog().size == 3
    assert reopened.store.counters()["records_queued"] == 3
    assert reopened.backlog().oldest_at is not None


def test_full_jitter_is_bounded_by_the_capped_exponential() -> None:
    rng = random.Random(7)
    delays = [full_jitter_delay_s(n, base_s=0.5, max_s=10.0, rng=rng) for n in range(12)]
    caps = [min(10.0, 0.5 * 2**n) for n in range(12)]
    assert all(0.0 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not fixed


def test_uploader_delivers_batches_to_the_hub(tmp_path: Path, live_hub: LiveHub) -> None:
    outbox = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    fill(outbox, 25)
    settings = HubSettings(url=live_hub.url, site_token=live_hub.site_token(), batch_size=10)
    uploader = Uploader(outbox, settings)
    results = [uploader.deliver_once() for _ in range(4)]
    assert [r.sent for r in results] == [10, 10, 5, 0]
    assert outbox.backlog().size == 0
    assert sorted(live_hub.received_keys()) == sorted(make_record(i).record_key for i in range(25))
    assert outbox.store.counters()["records_sent"] == 25


def test_hub_down_then_back_loses_and_duplicates_nothing(tmp_path: Path, live_hub: LiveHub) -> None:
    token = live_hub.site_token()
    live_hub.stop()
    outbox = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    settings = HubSettings(
        url=live_hub.url, site_token=token, batch_size=7, backoff_base_s=0.05, backoff_max_s=0.2
    )
    uploader = Uploader(outbox, settings, rng=random.Random(1))
    uploader.start()
    fill(outbox, 20)
    uploader.wake.set()
    time.sleep(0.5)  # several failed attempts while the hub is down
    assert outbox.backlog().size == 20
    assert "unreachable" in (outbox.store.get_meta("upload_error") or "")
    live_hub.start()
    deadline = time.monotonic() + 20
    while outbox.backlog().size and time.monotonic() < deadline:
        time.sleep(0.05)
    uploader.stop()
    keys = live_hub.received_keys()
    assert len(keys) == len(set(keys)) == 20
    assert outbox.backlog().size == 0


def test_resent_batch_is_a_duplicate_at_the_hub(tmp_path: Path, live_hub: LiveHub) -> None:
    outbox = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    fill(outbox, 5)
    settings = HubSettings(url=live_hub.url, site_token=live_hub.site_token())
    Uploader(outbox, settings).deliver_once()
    # A crash after the hub answered but before the edge marked the rows: send them again.
    with outbox.store.transaction() as conn:
        conn.execute("UPDATE outbox SET sent_at = NULL")
    result = Uploader(outbox, settings).deliver_once()
    assert result.sent == 5
    assert len(live_hub.received_keys()) == 5


def test_bad_token_is_reported_and_not_retried_blindly(tmp_path: Path, live_hub: LiveHub) -> None:
    outbox = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    fill(outbox, 2)
    uploader = Uploader(outbox, HubSettings(url=live_hub.url, site_token="mcs_not-a-real-token"))
    result = uploader.deliver_once()
    assert result.auth_failed
    assert outbox.store.get_meta("upload_auth_failed") == "1"
    assert outbox.backlog().size == 2  # nothing dropped
    assert uploader._cycle() >= 60.0  # the next try is slow, not a tight loop
    assert live_hub.received_keys() == []


def test_hub_rejection_sets_one_record_aside(tmp_path: Path, live_hub: LiveHub) -> None:
    outbox = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    fill(outbox, 3)
    with outbox.store.transaction() as conn:  # corrupt the middle record's stored body
        conn.execute(
            "UPDATE outbox SET body = replace(body, '\"CT\"', "
            "'\"' || hex(randomblob(80)) || '\"') WHERE id = 2"
        )
    uploader = Uploader(outbox, HubSettings(url=live_hub.url, site_token=live_hub.site_token()))
    for _ in range(3):
        uploader.deliver_once()
    assert outbox.backlog().rejected == 1
    assert outbox.backlog().size == 0
    assert len(live_hub.received_keys()) == 2


def test_uploader_thread_stops_promptly(tmp_path: Path) -> None:
    outbox = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    uploader = Uploader(outbox, HubSettings(url="http://127.0.0.1:9", site_token="mcs_x"))
    uploader.start()
    stopper = threading.Thread(target=uploader.stop, kwargs={"flush_timeout_s": 1.0})
    stopper.start()
    stopper.join(timeout=40)
    assert not stopper.is_alive()


def test_a_delivered_batch_costs_one_commit(tmp_path: Path, live_hub: LiveHub) -> None:
    store = EdgeStore(tmp_path / "edge.sqlite3")
    outbox = Outbox(store)
    fill(outbox, 12)
    uploader = Uploader(outbox, HubSettings(url=live_hub.url, site_token=live_hub.site_token()))
    commits = 0
    transaction = store.transaction

    def counting() -> object:
        nonlocal commits
        commits += 1
        return transaction()

    store.transaction = counting  # type: ignore[method-assign]
    assert uploader.deliver_once().sent == 12
    assert commits == 1  # rows marked sent and the status values, in one fsync
    assert store.get_meta("last_upload_at") is not None
    assert store.get_meta("upload_error") is None


def test_a_partial_batch_lingers_for_more_and_a_full_one_does_not(
    tmp_path: Path, live_hub: LiveHub
) -> None:
    from medcoop.edge.uploader import _LINGER_S

    outbox = Outbox(EdgeStore(tmp_path / "edge.sqlite3"))
    settings = HubSettings(url=live_hub.url, site_token=live_hub.site_token(), batch_size=10)
    uploader = Uploader(outbox, settings)
    fill(outbox, 13)
    assert uploader._cycle() == 0.0  # a full batch: more may be waiting, go on at once
    assert uploader._cycle() == _LINGER_S  # three: wait a little so that others gather
    assert uploader._cycle() == 1.0  # nothing left
    assert outbox.backlog().size == 0


def test_hub_overview_shows_each_sites_quarantine_by_reason(
    tmp_path: Path, live_hub: LiveHub
) -> None:
    """The edge reports its quarantine counts by reason (never an object or a value) and the
    hub's `GET /api/v1/edges` shows them per site and in total."""
    import time

    import httpx

    from medcoop.edge.config import DicomSettings, HubSettings, StowSettings
    from medcoop.edge.node import EdgeNode

    from .conftest import encode, fleet_studies, make_settings

    hub = HubSettings(url=live_hub.url, site_token=live_hub.site_token(), backoff_base_s=0.05)
    node = EdgeNode(
        make_settings(
            tmp_path, hub, dicom=DicomSettings(enabled=False), stow=StowSettings(enabled=False)
        )
    )
    node.start()
    reader = {"Authorization": f"Bearer {live_hub.physicist_token()}"}
    try:
        pipeline = node.pipeline
        assert pipeline is not None
        pipeline.process_bytes(b"\x00not dicom" * 20, "test", sender="CT1")
        pipeline.process_bytes(encode(fleet_studies(1)[0].datasets[0]), "test")
        deadline = time.monotonic() + 30
        body: dict = {}  # type: ignore[type-arg]
        while time.monotonic() < deadline:
            body = httpx.get(live_hub.url + "/api/v1/edges", headers=reader).json()
            if body.get("quarantine_by_reason"):
                break
            time.sleep(0.2)
        assert body["quarantine_by_reason"] == {"malformed": 1}
        (site,) = body["sites"]
        assert site["site"] == "Edge Test Site" and site["quarantine_by_reason"] == {"malformed": 1}
        assert site["counters"]["received"] == 2
        unauthenticated = httpx.post(live_hub.url + "/api/v1/edge/status", json={})
        assert unauthenticated.status_code == 401
        person = httpx.post(live_hub.url + "/api/v1/edge/status", json={}, headers=reader)
        assert person.status_code == 401  # only a site's token may report for it
    finally:
        node.stop()
