"""Edge end-to-end throughput: studies/hour from C-STORE in to record committed at the hub.

A study is an MPPS N-CREATE, its composite objects (an RDSR, plus a few image headers for
some) and an MPPS N-SET. Senders are peers we did not write: dcmtk ``storescu`` with its
default settings (one run over all files) and pynetdicom for MPPS. The edge runs as
``medcoop edge serve`` and the hub as ``medcoop hub serve`` (SQLite), each a subprocess on
this machine. Also measured in the same run, on the same files and link: a bare pynetdicom
C-STORE SCP that only decodes each dataset (the library's ceiling).

    /work/venv/bin/python bench/edge.py --studies 300
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from medcoop.edge.dimse import QuickAckRequestHandler
from medcoop.sim import Fleet


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError("process exited before listening")
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def start_hub(folder: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    from medcoop.hub.app import create_app
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session
    from medcoop.hub.services import accounts
    from medcoop.hub.settings import HubSettings

    db_url = f"sqlite:///{folder / 'hub.sqlite3'}"
    app = create_app(HubSettings(database_url=db_url))
    with app.state.session_factory() as session:
        scope_session(session, ALL_TENANTS)
        code = accounts.provision_site(session, "Bench Health", "Bench Site").enrollment_code
        session.commit()
    app.state.engine.dispose()
    port = free_port()
    hub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medcoop",
            "hub",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_port(port, hub)
    url = f"http://127.0.0.1:{port}"
    token = httpx.post(url + "/api/v1/enroll", json={"code": code, "edge_name": "bench"}).json()
    return hub, url, token["site_token"]


def start_edge(folder: Path, hub_url: str, token: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = folder / "edge.toml"
    config.write_text(
        f'name = "bench"\nstudy_completion_timeout_s = 5\n'
        f'[dicom]\nhost = "127.0.0.1"\nport = {port}\n[stow]\nenabled = false\n'
        f'[hub]\nurl = "{hub_url}"\nsite_token = "{token}"\nbatch_size = 500\n'
        f'[storage]\ndata_dir = "edge-state"\nmin_free_bytes = 0\n'
    )
    edge = subprocess.Popen(
        [sys.executable, "-m", "medcoop", "edge", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, edge)
    return edge, port


def send_mpps(port: int, studies: list, which: str) -> None:
    ae = AE(ae_title="BENCHMOD")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCOOP")
    assert assoc.is_established, "MPPS association refused"
    for study in studies:
        uid = study.truth.mpps_sop_instance_uid
        if which == "create":
            status, _ = assoc.send_n_create(study.mpps_create, ModalityPerformedProcedureStep, uid)
        else:
            status, _ = assoc.send_n_set(study.mpps_set, ModalityPerformedProcedureStep, uid)
        assert status.Status == 0, hex(status.Status)
    assoc.release()


def storescu(port: int, folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["storescu", "-aec", "MEDCOOP", "-R", "+sd", "+r", "127.0.0.1", str(port), str(folder)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def hub_study_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM studies").fetchone()[0])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bare_scp_objects_per_s(folder: Path, n_files: int, *, quickack: bool) -> float:
    """The ceiling: pynetdicom's SCP decoding each dataset and doing nothing else.

    With ``quickack`` its accepted sockets get the edge's TCP_NODELAY/TCP_QUICKACK tuning.
    """
    decoded = 0

    def on_store(event: evt.Event) -> int:
        nonlocal decoded
        _ = event.dataset  # decode, as the edge must
        decoded += 1
        return 0

    ae = AE(ae_title="MEDCOOP")
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    port = free_port()
    server = ThreadedAssociationServer(
        ae,
        ("127.0.0.1", port),
        "MEDCOOP",
        ae.supported_contexts,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
        request_handler=QuickAckRequestHandler if quickack else RequestHandler,
    )
    ae._servers.append(server)  # pynetdicom's shutdown() removes it from there
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        elapsed = storescu(port, folder)
    finally:
        server.shutdown()
    assert decoded == n_files, (decoded, n_files)
    return n_files / elapsed


def write_studies(fleet: Fleet, folder: Path, n: int) -> list:
    """Write ``n`` studies that carry a dose report (with their image headers, if any)."""
    chosen = []
    for study in fleet.studies(n=4 * n):
        if not study.truth.rdsr_sop_instance_uid:
            continue
        target = folder / f"study-{len(chosen):06d}"
        target.mkdir(parents=True)
        for index, ds in enumerate(study.datasets):
            ds.save_as(target / f"{index:02d}.dcm", enforce_file_format=True)
        chosen.append(study)
        if len(chosen) == n:
            return chosen
    raise RuntimeError("the fleet gave too few studies with a dose report")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="medcoop-bench-edge-"))
    fleet = Fleet(seed=args.seed, sites=("Bench General",), start=date(2026, 4, 6))
    studies = write_studies(fleet, work / "files", args.studies)
    files = list((work / "files").rglob("*.dcm"))
    print(
        f"{args.studies} studies, {len(files)} composite objects, {2 * args.studies} MPPS messages"
    )

    hub, hub_url, token = start_hub(work)
    edge, port = start_edge(work, hub_url, token)
    try:
        started = time.perf_counter()
        send_mpps(port, studies, "create")
        store_s = storescu(port, work / "files")
        send_mpps(port, studies, "set")
        sent_s = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while hub_study_count(work / "hub.sqlite3") < args.studies and time.monotonic() < deadline:
            time.sleep(0.05)
        total_s = time.perf_counter() - started
        at_hub = hub_study_count(work / "hub.sqlite3")
        rss_mb = peak_rss_mb(edge.pid)
    finally:
        edge.terminate()
        edge.wait(timeout=60)
        hub.terminate()
        hub.wait(timeout=60)
    bare = bare_scp_objects_per_s(work / "files", len(files), quickack=False)
    tuned = bare_scp_objects_per_s(work / "files", len(files), quickack=True)
    edge_objects_per_s = len(files) / store_s
    print(f"studies at the hub: {at_hub}/{args.studies}")
    print(f"end to end: {total_s:.1f} s -> {args.studies / total_s * 3600:,.0f} studies/hour")
    print(f"  (all sent after {sent_s:.1f} s; storescu -> edge {edge_objects_per_s:.0f} objects/s)")
    print(f"edge peak RSS: {rss_mb:.0f} MB")
    print(f"storescu -> bare pynetdicom SCP (decode only), default sockets: {bare:.0f} objects/s")
    print(f"storescu -> bare pynetdicom SCP (decode only), NODELAY+QUICKACK: {tuned:.0f} objects/s")
    print(
        f"edge / bare SCP default: {edge_objects_per_s / bare:.2f}; edge / bare SCP tuned: "
        f"{edge_objects_per_s / tuned:.2f}"
    )
    os.environ.get("KEEP_BENCH") or subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
