"""Edge end-to-end throughput: studies/hour from C-STORE in to record committed at the hub.

A study is an MPPS N-CREATE, its composite objects (an RDSR, plus a few image headers for
some) and an MPPS N-SET. ``--senders`` scanners send at once (a hospital's modalities do),
each a process of its own with its share of the studies: one MPPS association (pynetdicom)
for its N-CREATEs, one dcmtk ``storescu`` run over its files (default settings, ``-R`` to
propose the RRDSR class), one MPPS association for its N-SETs. Senders are peers we did
not write. The edge runs as ``medcoop edge serve`` and the hub as ``medcoop hub serve``
(SQLite), each a subprocess on this machine, sharing its cores with the senders. Also
measured in the same run, on the same files with the same number of ``storescu``
processes: a bare pynetdicom C-STORE SCP that only decodes each dataset (the library's
ceiling), with its own transport and with the edge's (``QuickAckRequestHandler``,
``SharedContexts``).

Back-loading (``medcoop edge import``) is measured on the same files: objects/s of the
whole ``medcoop edge import`` process, and in-process with one worker (a commit per file)
against the default workers sharing the group commit. ``--import-only`` runs just that.

    .venv/bin/python bench/edge.py --studies 2000 --senders 8
    .venv/bin/python bench/edge.py --studies 1000 --import-only
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from medcoop.edge.dimse import QuickAckRequestHandler, SharedContexts
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
        f'name = "bench"\nstudy_completion_timeout_s = 600\n'
        f'[dicom]\nhost = "127.0.0.1"\nport = {port}\nallowed_calling_aets = ["*"]\n'
        f"[stow]\nenabled = false\n"
        f'[hub]\nurl = "{hub_url}"\nsite_token = "{token}"\nbatch_size = 500\n'
        f'[storage]\ndata_dir = "edge-state"\nmin_free_bytes = 0\n'
    )
    with (folder / "edge.log").open("wb") as log:  # kept with KEEP_BENCH=1
        edge = subprocess.Popen(
            [sys.executable, "-m", "medcoop", "edge", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    wait_port(port, edge)
    return edge, port


def dcmtk(tool: str) -> str:
    """The path of a dcmtk program (not pynetdicom's Python script of the same name)."""
    for folder in ("/usr/bin", "/usr/local/bin", *os.get_exec_path()):
        path = Path(folder) / tool
        if path.is_file() and os.access(path, os.X_OK):
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    return str(path)
    raise RuntimeError(f"dcmtk {tool} not found (apt-get install dcmtk)")


def cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds used so far by process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def send_mpps(port: int, studies: list, which: str) -> None:
    ae = AE(ae_title="BENCHMOD")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCOOP")
    assert assoc.is_established, "MPPS association refused"
    # pynetdicom 3.0's requestor pauses its reactor racily: with busy threads the reactor
    # can take a fast response off the DIMSE queue, log "unexpected N-SET", drop it, and
    # the sender waits out the DIMSE timeout. A requestor serves no requests: put it back.
    assoc._serve_request = lambda msg, cx_id: assoc.dimse.msg_queue.put((cx_id, msg))
    for study in studies:
        uid = study.truth.mpps_sop_instance_uid
        if which == "create":
            status, _ = assoc.send_n_create(study.mpps_create, ModalityPerformedProcedureStep, uid)
        else:
            status, _ = assoc.send_n_set(study.mpps_set, ModalityPerformedProcedureStep, uid)
        assert status.Status == 0, hex(status.Status)
    assoc.release()


def storescu(port: int, folder: Path) -> tuple[float, float]:
    """Send every file under ``folder`` with dcmtk storescu; return (start, end) times."""
    started = time.perf_counter()
    command = [dcmtk("storescu"), "-aec", "MEDCOOP", "-R", "+sd", "+r", "127.0.0.1", str(port)]
    subprocess.run(
        [*command, str(folder)],
        check=True,
        capture_output=True,
    )
    return started, time.perf_counter()


def run_all(jobs: list) -> list:
    """Run the callables in ``jobs`` in threads at once; return their results, in order."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result() for future in futures]


def modality(port: int, studies: list, folder: Path) -> tuple[float, float, float, float]:
    """One scanner: N-CREATE for each of its studies, storescu of its files, N-SETs.

    Returns the times it started, started and ended ``storescu``, and ended.
    """
    began = time.perf_counter()
    send_mpps(port, studies, "create")
    start, end = storescu(port, folder)
    send_mpps(port, studies, "set")
    return began, start, end, time.perf_counter()


def run_modalities(port: int, shares: list[list], folders: list[Path]) -> list[tuple]:
    """Run one process per scanner, all at once (scanners are separate machines: no shared GIL).

    Returns each scanner's :func:`modality` times with its MPPS (own) and storescu
    (children's) CPU seconds.
    """
    context = multiprocessing.get_context("fork")  # the studies are inherited, not pickled
    results = context.Queue()

    def scanner(index: int) -> None:
        span = modality(port, shares[index], folders[index])
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime)
        results.put((index, span, cpu))

    processes = [context.Process(target=scanner, args=(i,)) for i in range(len(shares))]
    for process in processes:
        process.start()
    done = [results.get(timeout=900) for _ in processes]
    for process in processes:
        process.join()
        assert process.exitcode == 0, "a scanner failed"
    return [(span, cpu) for _, span, cpu in sorted(done, key=lambda item: item[0])]


def hub_study_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM studies").fetchone()[0])


def group_commit_stats(log: Path) -> str:
    """The edge's group commits, from its "edge stopped" log line."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if '"edge stopped"' in line:
            stats = json.loads(line)
            commits, works = stats.get("group_commits", 0), stats.get("grouped_works", 0)
            per = works / max(commits, 1)
            return f"{works} pieces of work in {commits} commits ({per:.1f} each)"
    return "not logged"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bare_scp_objects_per_s(folders: list[Path], n_files: int, *, quickack: bool) -> float:
    """The ceiling: pynetdicom's SCP decoding each dataset and doing nothing else.

    One ``storescu`` per folder, all at once. With ``quickack`` the associations get the
    edge's transport: TCP_NODELAY/TCP_QUICKACK, threads that wait instead of polling, and
    presentation contexts shared rather than deep-copied.
    """
    decoded = 0

    lock = threading.Lock()

    def on_store(event: evt.Event) -> int:
        nonlocal decoded
        _ = event.dataset  # decode, as the edge must
        with lock:
            decoded += 1
        return 0

    ae = AE(ae_title="MEDCOOP")
    ae.maximum_associations = 64
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    port = free_port()
    server = ThreadedAssociationServer(
        ae,
        ("127.0.0.1", port),
        "MEDCOOP",
        SharedContexts(ae.supported_contexts) if quickack else ae.supported_contexts,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
        request_handler=QuickAckRequestHandler if quickack else RequestHandler,
    )
    ae._servers.append(server)  # pynetdicom's shutdown() removes it from there
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spans = run_all([lambda f=f: storescu(port, f) for f in folders])
    finally:
        server.shutdown()
    assert decoded == n_files, (decoded, n_files)
    return n_files / (max(end for _, end in spans) - min(start for start, _ in spans))


def write_studies(fleet: Fleet, folder: Path, n: int, senders: int) -> list:
    """Write ``n`` studies that carry a dose report (with their image headers, if any).

    Study ``i`` goes to sender ``i % senders`` (folder ``sender-NN``).
    """
    chosen = []
    for study in fleet.studies(n=4 * n):
        if not study.truth.rdsr_sop_instance_uid:
            continue
        sender = len(chosen) % senders
        target = folder / f"sender-{sender:02d}" / f"study-{len(chosen):06d}"
        target.mkdir(parents=True)
        for index, ds in enumerate(study.datasets):
            ds.save_as(target / f"{index:02d}.dcm", enforce_file_format=True)
        chosen.append(study)
        if len(chosen) == n:
            return chosen
    raise RuntimeError("the fleet gave too few studies with a dose report")


def import_config(folder: Path) -> Path:
    folder.mkdir(parents=True)
    config = folder / "edge.toml"
    config.write_text(
        'name = "bench-import"\n[dicom]\nenabled = false\n[stow]\nenabled = false\n'
        '[storage]\ndata_dir = "state"\nmin_free_bytes = 0\n'
    )
    return config


def import_in_process(files: Path, folder: Path, workers: int) -> tuple[float, dict[str, int]]:
    """Objects/s of ``import_path`` with ``workers`` threads into a fresh edge."""
    from medcoop.edge.config import load_settings
    from medcoop.edge.importer import import_path
    from medcoop.edge.node import open_pipeline

    store, pipeline = open_pipeline(load_settings(import_config(folder)))
    try:
        summary = import_path(pipeline, files, workers=workers)
        commits = store.group_commits
    finally:
        store.close()
    return summary.objects_per_s, {"files": summary.files, "commits": commits}


def import_cli(files: Path, folder: Path) -> float:
    """Objects/s of a whole ``medcoop edge import`` process (start-up included)."""
    config = import_config(folder)
    n = sum(1 for _ in files.rglob("*.dcm"))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "medcoop", "edge", "import", str(files), "-c", str(config)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return n / (time.perf_counter() - started)


def report_import(files: Path, work: Path) -> None:
    from medcoop.edge.importer import DEFAULT_WORKERS

    serial, serial_stats = import_in_process(files, work / "import-serial", 1)
    grouped, grouped_stats = import_in_process(files, work / "import-grouped", DEFAULT_WORKERS)
    whole = import_cli(files, work / "import-cli")
    print(
        f"edge import, in-process, 1 worker: {serial:.0f} objects/s "
        f"({serial_stats['files']} files, {serial_stats['commits']} commits)"
    )
    print(
        f"edge import, in-process, {DEFAULT_WORKERS} workers (group commit): {grouped:.0f} "
        f"objects/s ({grouped_stats['commits']} commits; {grouped / serial:.2f}x one worker)"
    )
    print(f"medcoop edge import, whole process: {whole:.0f} objects/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=8, help="modalities sending at once")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--import-only", action="store_true", help="measure edge import only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="medcoop-bench-edge-"))
    fleet = Fleet(seed=args.seed, sites=("Bench General",), start=date(2026, 4, 6))
    studies = write_studies(fleet, work / "files", args.studies, args.senders)
    folders = [work / "files" / f"sender-{i:02d}" for i in range(args.senders)]
    shares = [studies[i :: args.senders] for i in range(args.senders)]
    files = list((work / "files").rglob("*.dcm"))
    print(
        f"{args.studies} studies, {len(files)} composite objects, {2 * args.studies} MPPS "
        f"messages; {args.senders} senders at once; load average {os.getloadavg()}"
    )

    if args.import_only:
        report_import(work / "files", work)
        print(f"load average after: {os.getloadavg()}")
        os.environ.get("KEEP_BENCH") or subprocess.run(["rm", "-rf", str(work)], check=False)
        return
    hub, hub_url, token = start_hub(work)
    edge, port = start_edge(work, hub_url, token)
    try:
        edge_cpu0, hub_cpu0 = cpu_s(edge.pid), cpu_s(hub.pid)
        started = time.perf_counter()
        scanners = run_modalities(port, shares, folders)
        sent_s = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while hub_study_count(work / "hub.sqlite3") < args.studies and time.monotonic() < deadline:
            time.sleep(0.05)
        total_s = time.perf_counter() - started
        at_hub = hub_study_count(work / "hub.sqlite3")
        rss_mb = peak_rss_mb(edge.pid)
        (edge_user, edge_sys), hub_cpu1 = cpu_s(edge.pid), cpu_s(hub.pid)
        edge_user, edge_sys = edge_user - edge_cpu0[0], edge_sys - edge_cpu0[1]
        edge_cpu = edge_user + edge_sys
        hub_cpu = sum(hub_cpu1) - sum(hub_cpu0)
        spans = [span for span, _ in scanners]
        mpps_cpu = sum(cpu[0] for _, cpu in scanners)
        scu_cpu = sum(cpu[1] for _, cpu in scanners)
    finally:
        edge.terminate()
        edge.wait(timeout=60)
        hub.terminate()
        hub.wait(timeout=60)
    load_after = os.getloadavg()
    bare = bare_scp_objects_per_s(folders, len(files), quickack=False)
    tuned = bare_scp_objects_per_s(folders, len(files), quickack=True)
    store_s = max(end for _, _, end, _ in spans) - min(start for _, start, _, _ in spans)
    phases = [sum(span[i + 1] - span[i] for span in spans) / len(spans) for i in range(3)]
    edge_objects_per_s = len(files) / store_s
    messages = len(files) + 2 * args.studies
    n = args.studies
    print(f"studies at the hub: {at_hub}/{n}")
    print(f"end to end: {total_s:.1f} s -> {n / total_s * 3600:,.0f} studies/hour")
    print(f"  all sent after {sent_s:.1f} s: {messages / sent_s:.0f} messages/s into the edge")
    print(
        f"  storescu -> edge: {edge_objects_per_s:.0f} objects/s "
        f"(first storescu start to last end, MPPS of other senders interleaved)"
    )
    print(
        f"  per sender, mean: N-CREATEs {phases[0]:.1f} s, storescu {phases[1]:.1f} s, "
        f"N-SETs {phases[2]:.1f} s"
    )
    print(
        f"CPU per study: edge {edge_cpu / n * 1e3:.2f} ms "
        f"(user {edge_user / n * 1e3:.2f}, system {edge_sys / n * 1e3:.2f}), "
        f"hub {hub_cpu / n * 1e3:.2f} ms, "
        f"MPPS senders {mpps_cpu / n * 1e3:.2f} ms, storescu {scu_cpu / n * 1e3:.2f} ms"
    )
    print(f"edge group commit: {group_commit_stats(work / 'edge.log')}")
    print(f"edge peak RSS: {rss_mb:.0f} MB")
    print(f"storescu -> bare pynetdicom SCP (decode only), default sockets: {bare:.0f} objects/s")
    print(f"storescu -> bare pynetdicom SCP (decode only), edge transport: {tuned:.0f} objects/s")
    print(
        f"edge / bare SCP default: {edge_objects_per_s / bare:.2f}; "
        f"edge / bare SCP, edge transport: {edge_objects_per_s / tuned:.2f}"
    )
    report_import(work / "files", work)
    print(f"load average after: {load_after}")
    os.environ.get("KEEP_BENCH") or subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
