"""The first code of an app's process: drop privileges, guard, load inputs, call, write result.

Run by the runner as ``python -m medcoop.apps.harness JOB_JSON`` inside the sandbox (or
with rlimits only). In order:

1. read the job (entry point, parameters, context, where inputs and output are);
2. when started as root, become ``nobody`` (uid/gid 65534) before any app code runs, so
   that the edge's key, database and retained objects (all mode 0600, root's) cannot be
   opened and the process-count limit applies (the kernel exempts root from it);
3. install an audit hook (PEP 578) refusing network use, new processes and opening files
   outside the inputs, the output folder and the interpreter's own paths. Under
   bubblewrap this is a second wall; with rlimits only it is the only one and an app
   that calls C code directly can get round it — the runner says so in its status;
4. load the study (pydicom datasets) or the pooled records, call the entry point, and
   write its result (:func:`medcoop.apps.sdk.write_result`); an exception is written as
   ``error.json`` (its type and message, for the run's log on premise) and exit code 1.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["main"]

#: Exit codes the runner reads.
EXIT_APP_ERROR = 1
EXIT_BAD_JOB = 2
EXIT_MEMORY = 3
EXIT_TOO_LARGE = 4
NOBODY = 65534


def main(argv: list[str] | None = None) -> int:
    """Run the job named on the command line; return the process's exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    except Exception as exc:
        print(f"harness: unreadable job: {type(exc).__name__}", file=sys.stderr)
        return EXIT_BAD_JOB
    output = Path(job["output_dir"])
    _die_with_parent()
    _wait_for(job.get("wait_for"))
    _set_limits(job.get("limits") or {})
    dropped = _drop_privileges() if job.get("drop_privileges", True) else False
    # Import what the harness itself needs before the guard closes the file system.
    import pydicom
    import pydicom.config

    from medcoop.apps import sdk

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    for path in job.get("app_paths", []):
        sys.path.insert(0, path)
    if job.get("guard", True):
        _guard(
            readable=[job["input_dir"], *job.get("app_paths", []), *_interpreter_paths()],
            writable=[str(output)],
            # new processes only where the kernel counts them (a pids cgroup, or a
            # process limit, which applies to nobody but never to root)
            allow_processes=bool(job.get("allow_processes")) or dropped,
        )
    try:
        entry = sdk.load_entry_point(job["entry_point"])
        context = sdk.AppContext.from_json(job["context"])
        inputs: sdk.EdgeStudy | sdk.CloudBatch
        if context.kind == "cloud":
            inputs = sdk.CloudBatch(json.loads(Path(job["records_file"]).read_text("utf-8")))
        else:
            inputs = sdk.EdgeStudy.from_folder(Path(job["input_dir"]))
        result = entry(inputs, dict(job.get("parameters", {})), context)
        sdk.write_result(result, output)
    except MemoryError:
        _write_error(output, "MemoryError", "the app ran out of memory")
        return EXIT_MEMORY
    except OSError as exc:
        if exc.errno == errno.EFBIG:  # the file-size limit (Python ignores SIGXFSZ)
            _write_error(output, "FileTooLarge", "the app wrote past the output limit")
            return EXIT_TOO_LARGE
        _write_error(output, type(exc).__name__, str(exc)[:500])
        traceback.print_exc()
        return EXIT_APP_ERROR
    except BaseException as exc:  # everything the app raises is the app's failure
        _write_error(output, type(exc).__name__, str(exc)[:500])
        traceback.print_exc()
        return EXIT_APP_ERROR
    return 0


def _die_with_parent() -> None:
    """End this run if the edge that started it dies (bubblewrap does so itself; with
    rlimits only this watch does): an orphaned run would be run again on restart."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(EXIT_APP_ERROR)

    threading.Thread(target=watch, name="medcoop-parent-watch", daemon=True).start()


def _wait_for(path: str | None) -> None:
    # the runner moves this process into its cgroup first, then creates the file
    if not path:
        return
    deadline = time.monotonic() + 10.0
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.005)


def _set_limits(limits: dict[str, Any]) -> None:
    import resource

    def cap(which: int, value: int) -> None:
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))

    if "cpu_s" in limits:
        cpu = max(1, int(limits["cpu_s"]))
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        # soft: SIGXCPU (the runner reports cpu_limit); hard, a second later: SIGKILL
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1 if hard == -1 else hard))
    if "memory_mb" in limits:
        cap(resource.RLIMIT_AS, int(limits["memory_mb"]) * 1024 * 1024)
    if "max_output_bytes" in limits:
        cap(resource.RLIMIT_FSIZE, int(limits["max_output_bytes"]))
    if "max_processes" in limits:
        cap(resource.RLIMIT_NPROC, int(limits["max_processes"]))
    cap(resource.RLIMIT_NOFILE, 256)
    cap(resource.RLIMIT_CORE, 0)


def _drop_privileges() -> bool:
    """Become nobody when started as root; return whether it did."""
    if os.getuid() != 0:
        return False
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return True


def _interpreter_paths() -> list[str]:
    # the system's libraries and what numerical libraries read about the machine
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/lib", "/lib64",
             "/etc/ld.so.cache", "/etc/localtime", "/dev/null", "/dev/urandom", "/proc",
             "/sys/devices/system/cpu", "/sys/fs/cgroup"}
    paths.update(p for p in sys.path if p)
    return sorted(paths)


def _guard(*, readable: list[str], writable: list[str], allow_processes: bool) -> None:
    """Refuse sockets, new processes and file access outside the allowed roots (PEP 578)."""
    read_roots = tuple(_root(p) for p in readable + writable)
    write_roots = tuple(_root(p) for p in writable)
    # fork is allowed only with a process limit the kernel enforces (the runner decides)
    process_events = () if allow_processes else (
        "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system",
        "subprocess.Popen", "os.startfile",
    )
    blocked = frozenset(process_events)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("socket.") and event not in ("socket.gethostname",):
            raise PermissionError(f"network use is not allowed in an app ({event})")
        if event in blocked:
            raise PermissionError(f"starting processes is not allowed in an app ({event})")
        if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
            path = os.path.abspath(os.fsdecode(args[0]))
            mode = str(args[1]) if len(args) > 1 and args[1] is not None else "r"
            flags = int(args[2]) if len(args) > 2 and isinstance(args[2], int) else 0
            writing = any(c in mode for c in "wax+") or bool(flags & (os.O_WRONLY | os.O_RDWR))
            roots = write_roots if writing else read_roots
            if not any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
                raise PermissionError(f"an app may not {'write' if writing else 'read'} {path}")

    sys.addaudithook(hook)


def _root(path: str) -> str:
    return os.path.abspath(path)


def _write_error(output: Path, kind: str, message: str) -> None:
    with contextlib.suppress(OSError):  # the exit code still says it failed
        (output / "error.json").write_text(
            json.dumps({"type": kind, "message": message}), encoding="utf-8"
        )


if __name__ == "__main__":
    sys.exit(main())
