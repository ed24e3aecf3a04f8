"""Hostile apps for the isolation tests: ``parameters["attack"]`` chooses the misdeed.

Only ever imported inside a run's process (the runner puts this folder on the app's path).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from medcoop.apps.sdk import AppContext, AppResult, CloudBatch, EdgeStudy


def hostile(inputs: EdgeStudy | CloudBatch, parameters: Mapping[str, Any],
            context: AppContext) -> AppResult:
    """Misbehave as ``parameters["attack"]`` says; return a result only if not stopped."""
    attack = parameters["attack"]
    target = parameters.get("target", "")
    if attack == "socket":
        with socket.create_connection(("127.0.0.1", int(target)), timeout=2) as sock:
            sock.sendall(b"leak")
    elif attack == "read":
        with open(target, "rb") as f:
            return AppResult(findings={"stolen": f.read(64).hex()})
    elif attack == "write":
        with open(target, "w") as f:
            f.write("escaped")
    elif attack == "fork":
        while True:
            os.fork()
    elif attack == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(64 * 1024 * 1024))
    elif attack == "spin":
        while True:
            pass
    elif attack == "sleep":
        time.sleep(3600)
    elif attack == "big":
        with open(os.path.join(context.output_dir, "huge.bin"), "wb") as f:
            f.write(b"x" * int(target))
    elif attack == "invalid":
        return AppResult(findings={"score": "high"})
    elif attack == "crash":
        raise RuntimeError("the model file is corrupt")
    return AppResult(findings={"escaped": attack})
