"""STOW-RS memory: peak RSS of a real ``medcoop edge serve`` under large chunked uploads.

Starts the edge (STOW-RS only, ``max_body_bytes`` 32 MiB), stores a few instances to warm
it, then sends 256 MiB with chunked transfer encoding (no Content-Length: answered 413
once past the limit) and a 20 MB chunked request of 2,700 instances (stored), reading the
process's VmHWM after each. Before this work a chunked body bypassed the limit and was held
in memory whole.

    .venv/bin/python bench/stow_memory.py
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx

from medcoop.sim import Fleet

TOKEN = "bench-token"
BOUNDARY = "benchboundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
HEAD = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def parts(datasets: list[bytes], repeats: int) -> Iterator[bytes]:
    for _ in range(repeats):
        for data in datasets:
            yield HEAD + data + b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def zeros(total: int) -> Iterator[bytes]:
    yield HEAD
    for _ in range(total // (1 << 20)):
        yield b"\0" * (1 << 20)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="medcoop-bench-stow-"))
    port = free_port()
    config = work / "edge.toml"
    config.write_text(
        f'name = "bench"\n[dicom]\nenabled = false\n[stow]\nhost = "127.0.0.1"\n'
        f'port = {port}\ntoken = "{TOKEN}"\nmax_body_bytes = {32 << 20}\n'
        '[storage]\ndata_dir = "state"\nmin_free_bytes = 0\n'
    )
    edge = subprocess.Popen(
        [sys.executable, "-m", "medcoop", "edge", "serve", "--config", str(config)],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline or edge.poll() is not None:
                raise RuntimeError("edge did not start")
            time.sleep(0.05)
        fleet = Fleet(seed=3, sites=("St Elsewhere",), start=date(2026, 1, 5))
        datasets = []
        for study in fleet.studies(n=4):
            for ds in study.datasets:
                buffer = io.BytesIO()
                ds.save_as(buffer, enforce_file_format=True)
                datasets.append(buffer.getvalue())
        url = f"http://127.0.0.1:{port}/studies"
        headers = {"Content-Type": CONTENT_TYPE, "Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(timeout=600) as client:
            client.post(url, content=parts(datasets, 2), headers=headers).raise_for_status()
            base = peak_rss_mib(edge.pid)
            print(f"warm edge: peak RSS {base:.1f} MiB (load average {os.getloadavg()})")
            started = time.perf_counter()
            try:
                status = client.post(url, content=zeros(256 << 20), headers=headers).status_code
            except httpx.TransportError:
                status = "connection closed after the answer"
            print(
                f"256 MiB chunked over a 32 MiB limit: {status} after "
                f"{time.perf_counter() - started:.1f} s; peak RSS {peak_rss_mib(edge.pid):.1f} "
                f"MiB (+{peak_rss_mib(edge.pid) - base:.1f})"
            )
            repeats = (20 << 20) // sum(len(d) for d in datasets)
            started = time.perf_counter()
            answer = client.post(url, content=parts(datasets, repeats), headers=headers)
            stored = len(answer.json().get("00081199", {}).get("Value", []))
            print(
                f"{repeats * len(datasets)} instances ({repeats * sum(map(len, datasets)) >> 20}"
                f" MiB) in one chunked request: {answer.status_code}, {stored} stored in "
                f"{time.perf_counter() - started:.1f} s; peak RSS {peak_rss_mib(edge.pid):.1f}"
                f" MiB (+{peak_rss_mib(edge.pid) - base:.1f})"
            )
    finally:
        edge.terminate()
        edge.wait(timeout=60)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
