"""Run one app on one study in a process of its own, sandboxed, limited, and judge its output.

Each run gets a fresh workspace (``job/``, ``input/``, ``output/``) holding a copy of only
the objects it was given, and its own process: the app's virtual environment's
``python -m medcoop.apps.harness``. Walls, from the outside in:

- **bubblewrap** (when installed and able to create namespaces): new PID, network, IPC
  and UTS namespaces (no network at all, not even the edge's loopback), a root holding
  only the system's libraries, the interpreter's own paths and the app's, read-only, the
  inputs read-only at ``/input`` and one writable ``/output``; the site key, the edge's
  database and other studies are not in it;
- a **cgroup** per run where this machine lets us make one (v1 or v2): ``pids.max`` and
  the memory limit;
- **rlimits** set by the harness before app code runs: CPU seconds, address space, file
  size (the output cap), open files, no core dumps; when the edge runs as root the app
  runs as ``nobody`` (the process limit then applies too);
- an in-process **audit hook** (see :mod:`medcoop.apps.harness`) refusing sockets, new
  processes and files outside the allowed roots.

Without bubblewrap only the last two remain: :attr:`Runner.mode` is then
:attr:`SandboxMode.RLIMITS` and :meth:`Runner.describe` says plainly what that means.

Whatever the app does, :meth:`Runner.run` returns a :class:`RunOutcome` (errors are values
here): crashes, limits hit, oversized or invalid outputs become a failed outcome with a
:class:`FailureReason` and a short detail that holds no identifying value (the app's own
messages stay in the run's log file, on premise).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from medcoop.apps.errors import AppOutputError
from medcoop.apps.sdk import AppContext, AppResult, AppSpec, parameters_for, read_result

__all__ = [
    "AppInstall",
    "FailureReason",
    "Limits",
    "RunOutcome",
    "Runner",
    "SandboxMode",
    "detect_sandbox",
]

log = logging.getLogger("medcoop.apps.runner")

NOBODY = 65534
_LOG_TAIL_BYTES = 16_384


class SandboxMode(StrEnum):
    """What walls a run gets on this machine."""

    BUBBLEWRAP = "bubblewrap"
    RLIMITS = "rlimits-only"


class FailureReason(StrEnum):
    """Why a run failed (stored with the run, counted in status and monitoring)."""

    CRASHED = "crashed"
    TIMEOUT = "timeout"
    CPU_LIMIT = "cpu_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_TOO_LARGE = "output_too_large"
    INVALID_OUTPUT = "invalid_output"
    SANDBOX = "sandbox"
    INVALID_PARAMETERS = "invalid_parameters"


@dataclass(frozen=True, slots=True)
class Limits:
    """A run's limits (the site's; an app's manifest may ask for less, never more)."""

    cpu_s: float = 120.0
    memory_mb: int = 2048
    wall_s: float = 300.0
    max_output_bytes: int = 64 * 1024 * 1024
    max_processes: int = 32

    def for_app(self, spec: AppSpec) -> Limits:
        """These limits lowered to what ``spec`` requests."""
        return Limits(
            cpu_s=min(self.cpu_s, spec.cpu_s or self.cpu_s),
            memory_mb=min(self.memory_mb, spec.memory_mb or self.memory_mb),
            wall_s=min(self.wall_s, spec.wall_s or self.wall_s),
            max_output_bytes=self.max_output_bytes,
            max_processes=self.max_processes,
        )


@dataclass(frozen=True, slots=True)
class AppInstall:
    """One installed app version: its manifest, its venv's python and extra import paths."""

    spec: AppSpec
    python: Path
    app_paths: tuple[Path, ...] = ()


@dataclass(slots=True)
class RunOutcome:
    """What one run did."""

    succeeded: bool
    reason: FailureReason | None
    detail: str
    mode: SandboxMode
    duration_s: float
    result: AppResult | None = None
    #: The DICOM objects it produced, moved to the run's results folder.
    dicom_files: list[Path] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def status(self) -> str:
        """``succeeded`` or ``failed``."""
        return "succeeded" if self.succeeded else "failed"


@functools.cache
def detect_sandbox() -> tuple[SandboxMode, str]:
    """Return the sandbox this machine offers and why (probed once per process)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxMode.RLIMITS, "bubblewrap (bwrap) is not installed"
    probe = [bwrap, *_namespace_args(), "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxMode.RLIMITS, f"bubblewrap cannot start: {type(exc).__name__}"
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or ["no reason given"]
        return SandboxMode.RLIMITS, f"bubblewrap cannot create namespaces here: {why[0][:160]}"
    return SandboxMode.BUBBLEWRAP, "bubblewrap namespaces available"


def _namespace_args() -> list[str]:
    args = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        args.append("--unshare-user")  # root needs none, and keeps a real uid to drop to
    return args


class Runner:
    """Runs apps (one run per call; thread-safe, as each run has its own workspace).

    Parameters
    ----------
    limits : Limits
        The site's limits.
    mode : SandboxMode, optional
        Force a mode (tests compare both); default: the best this machine offers.
    guard : bool
        The harness's audit hook; turned off only by tests showing the sandbox alone.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        mode: SandboxMode | None = None,
        guard: bool = True,
        workspace_prefix: str = "medcoop-app-",
    ) -> None:
        self.limits = limits or Limits()
        #: Workspaces are ``<tmp>/<prefix>XXXX``: an edge names its own, to clear what a
        #: crash of it left behind (:meth:`clear_workspaces`).
        self.workspace_prefix = workspace_prefix
        detected, self.why = detect_sandbox()
        if mode is SandboxMode.BUBBLEWRAP and detected is not SandboxMode.BUBBLEWRAP:
            raise RuntimeError(f"bubblewrap requested but unavailable: {self.why}")
        self.mode = mode or detected
        if self.mode is SandboxMode.RLIMITS and detected is SandboxMode.BUBBLEWRAP:
            self.why = "the sandbox is turned off in this edge's configuration"
        self.guard = guard
        self.cgroups = _cgroup_support()

    def clear_workspaces(self) -> int:
        """Delete workspaces with this runner's prefix (left by a killed edge: they hold
        copies of identified inputs); return how many. Call only when no run is going."""
        cleared = 0
        for path in Path(tempfile.gettempdir()).glob(self.workspace_prefix + "*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                cleared += 1
        return cleared

    def describe(self) -> str:
        """One line for status and logs: what a run is contained by here."""
        cgroup = f"cgroup {self.cgroups}" if self.cgroups else "no cgroup (not permitted here)"
        if self.mode is SandboxMode.BUBBLEWRAP:
            return (f"bubblewrap sandbox (no network, read-only inputs only), rlimits, {cgroup}")
        return (
            f"RLIMITS ONLY ({self.why}): CPU, memory and wall-clock limits and {cgroup}, but "
            "no namespaces: network and file access are refused only by an in-process guard "
            "that native code can bypass"
            + ("; apps run as nobody where nobody can reach their interpreter, else as root"
               if os.geteuid() == 0 else "; apps run as the edge's own user")
        )

    def run(
        self,
        app: AppInstall,
        inputs: Sequence[Path],
        results_dir: Path,
        *,
        study_instance_uid: str | None = None,
        original_series: Sequence[str] = (),
        parameters: Mapping[str, Any] | None = None,
        records: list[dict[str, Any]] | None = None,
        run_id: str = "local",
    ) -> RunOutcome:
        """Run ``app`` on ``inputs`` (files) or ``records`` (a cloud run).

        ``results_dir`` receives ``result.json``, ``dicom/`` and ``app.log`` (the log's
        tail). ``study_instance_uid`` and ``original_series`` are what the outputs are
        checked against (an output of another study, or in an original series, is invalid).
        """
        started = time.monotonic()
        limits = self.limits.for_app(app.spec)
        try:
            parameters = parameters_for(app.spec, parameters)
        except ValueError as exc:  # the manifest's ParameterError lists every problem
            return self._failed(FailureReason.INVALID_PARAMETERS, str(exc)[:300], started)
        workspace = Path(tempfile.mkdtemp(prefix=self.workspace_prefix))
        try:
            return self._run_in(
                workspace, app, inputs, results_dir, limits, started,
                study_instance_uid=study_instance_uid, original_series=original_series,
                parameters=parameters, records=records, run_id=run_id,
            )
        finally:
            shutil.rmtree(workspace, ignore_errors=True)

    def _run_in(
        self,
        workspace: Path,
        app: AppInstall,
        inputs: Sequence[Path],
        results_dir: Path,
        limits: Limits,
        started: float,
        *,
        study_instance_uid: str | None,
        original_series: Sequence[str],
        parameters: Mapping[str, Any] | None,
        records: list[dict[str, Any]] | None,
        run_id: str,
    ) -> RunOutcome:
        job_dir, input_dir, output_dir = (workspace / n for n in ("job", "input", "output"))
        for d in (job_dir, input_dir, output_dir):
            d.mkdir()
        for index, source in enumerate(inputs):
            shutil.copyfile(source, input_dir / f"{index:05d}.dcm")
        sandboxed = self.mode is SandboxMode.BUBBLEWRAP
        inside = {"job": "/job", "input": "/input", "output": "/output"} if sandboxed else {
            "job": str(job_dir), "input": str(input_dir), "output": str(output_dir)}
        if records is not None:
            (input_dir / "records.json").write_text(json.dumps(records), encoding="utf-8")
        spec = app.spec
        context = AppContext(
            app_id=spec.id, app_version=spec.version, vendor=spec.vendor, kind=spec.kind,
            output_dir=Path(inside["output"]), model_name=spec.model_name,
            model_version=spec.model_version, run_id=run_id,
        )
        cgroup = _Cgroup.create(run_id, limits) if self.cgroups else None
        job = {
            "entry_point": spec.entry_point,
            "parameters": dict(parameters or {}),
            "context": context.to_json(),
            "input_dir": inside["input"],
            "output_dir": inside["output"],
            "records_file": inside["input"] + "/records.json",
            "app_paths": [str(p) for p in app.app_paths],
            "guard": self.guard,
            "drop_privileges": self._may_drop(app),
            "allow_processes": cgroup is not None and cgroup.has_pids,
            "limits": {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb,
                       "max_output_bytes": limits.max_output_bytes,
                       "max_processes": limits.max_processes},
            "wait_for": inside["job"] + "/go",
        }
        (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        if os.geteuid() == 0:  # the app runs as nobody: give it its workspace, nothing else
            for path in (workspace, *workspace.rglob("*")):
                os.chown(path, NOBODY, NOBODY)
        command = [str(app.python), "-B", "-m", "medcoop.apps.harness", inside["job"] + "/job.json"]
        if sandboxed:
            command = self._bwrap(app, workspace) + command
        log_path = workspace / "app.log"
        exit_code: int | None = None
        timed_out = False
        try:
            with open(log_path, "wb") as log_file:
                proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                    env=_clean_env(), cwd=str(output_dir), start_new_session=True,
                )
                if cgroup is not None:
                    cgroup.join(proc.pid)
                (job_dir / "go").touch()  # app code starts only once it is in its cgroup
                try:
                    exit_code = proc.wait(timeout=limits.wall_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                _kill_group(proc)
                exit_code = proc.wait() if exit_code is None else exit_code
        except OSError as exc:
            return self._failed(FailureReason.SANDBOX, f"cannot start: {type(exc).__name__}",
                                started)
        finally:
            oom = cgroup.close() if cgroup is not None else False
        if sandboxed and exit_code is not None and exit_code > 128:
            exit_code = 128 - exit_code  # bwrap passes on a signal death as 128 + signal
        results_dir.mkdir(parents=True, exist_ok=True)
        _keep_log_tail(log_path, results_dir / "app.log")
        outcome = self._judge(
            exit_code, timed_out, oom, output_dir, limits, started, study_instance_uid,
            original_series, spec,
        )
        if outcome.succeeded:
            outcome.dicom_files = _move_outputs(output_dir, results_dir, outcome.dicom_files)
        log.info(
            "app run finished",
            extra={"app": spec.key, "run_id": run_id, "status": outcome.status,
                   "reason": outcome.reason.value if outcome.reason else None,
                   "sandbox": self.mode.value, "duration_s": round(outcome.duration_s, 3)},
        )
        return outcome

    def _may_drop(self, app: AppInstall) -> bool:
        """Whether the app may run as nobody: always in the sandbox (its binds are
        reachable); with rlimits only, when nobody can reach the interpreter's files."""
        if os.geteuid() != 0:
            return False
        if self.mode is SandboxMode.BUBBLEWRAP:
            return True
        paths = _python_paths(str(app.python), tuple(str(p) for p in app.app_paths))
        return all(_reachable_by_others(Path(p)) for p in paths)

    def _bwrap(self, app: AppInstall, workspace: Path) -> list[str]:
        bwrap = shutil.which("bwrap") or "bwrap"
        args = [bwrap, *_namespace_args(), "--hostname", "medcoop-app",
                "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group"):
            args += ["--ro-bind-try", etc, etc]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        paths = _python_paths(str(app.python), tuple(str(p) for p in app.app_paths))
        made: set[str] = set()
        for path in paths:
            # bwrap makes missing parents 0700: nobody could not reach what is bound
            for parent in reversed(Path(path).parents[:-1] if Path(path).parents else ()):
                if str(parent) not in made and not str(parent).startswith("/usr"):
                    made.add(str(parent))
                    args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", path, path]
        args += ["--ro-bind", str(workspace / "job"), "/job",
                 "--ro-bind", str(workspace / "input"), "/input",
                 "--bind", str(workspace / "output"), "/output", "--chdir", "/output", "--"]
        return args

    def _judge(
        self,
        exit_code: int | None,
        timed_out: bool,
        oom: bool,
        output_dir: Path,
        limits: Limits,
        started: float,
        study_uid: str | None,
        original_series: Sequence[str],
        spec: AppSpec,
    ) -> RunOutcome:
        from medcoop.apps import harness

        if timed_out:
            return self._failed(FailureReason.TIMEOUT, f"ran past {limits.wall_s:g} s", started,
                                exit_code)
        if oom or exit_code == harness.EXIT_MEMORY:
            return self._failed(FailureReason.MEMORY_LIMIT,
                                f"over {limits.memory_mb} MiB of memory", started, exit_code)
        if exit_code in (-signal.SIGXCPU, -signal.SIGKILL) and _cpu_exhausted(exit_code):
            return self._failed(FailureReason.CPU_LIMIT, f"used {limits.cpu_s:g} s of CPU",
                                started, exit_code)
        if exit_code in (-signal.SIGXFSZ, harness.EXIT_TOO_LARGE):
            return self._failed(FailureReason.OUTPUT_TOO_LARGE,
                                f"wrote over {limits.max_output_bytes} bytes", started, exit_code)
        error = _read_error(output_dir)
        if exit_code != 0 or error is not None:
            kind = error or (f"signal {-exit_code}" if exit_code and exit_code < 0
                             else f"exit code {exit_code}")
            return self._failed(FailureReason.CRASHED, f"crashed: {kind}", started, exit_code)
        try:
            result, files = read_result(output_dir, max_bytes=limits.max_output_bytes)
        except AppOutputError as exc:
            reason = (FailureReason.OUTPUT_TOO_LARGE if "over the limit" in str(exc)
                      else FailureReason.INVALID_OUTPUT)
            return self._failed(reason, str(exc)[:200], started, exit_code)
        problems = _check_outputs(result, files, spec, study_uid, original_series)
        if problems:
            return self._failed(FailureReason.INVALID_OUTPUT, "; ".join(problems)[:300], started,
                                exit_code)
        return RunOutcome(True, None, "ok", self.mode, time.monotonic() - started, result,
                          files, exit_code)

    def _failed(
        self, reason: FailureReason, detail: str, started: float, exit_code: int | None = None
    ) -> RunOutcome:
        return RunOutcome(False, reason, detail, self.mode, time.monotonic() - started,
                          exit_code=exit_code)


def _check_outputs(
    result: AppResult,
    files: Sequence[Path],
    spec: AppSpec,
    study_uid: str | None,
    original_series: Sequence[str],
) -> list[str]:
    import pydicom

    from medcoop.apps.sdk import validate_findings
    from medcoop.apps.sr import validate_sr

    problems = [f"findings: {p}" for p in validate_findings(result.findings, spec.output_schema)]
    for path in files:
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:
            problems.append(f"{path.name} is not DICOM ({type(exc).__name__})")
            continue
        if study_uid is not None and str(ds.get("StudyInstanceUID", "")) != study_uid:
            problems.append(f"{path.name} is not of the study given")
        if str(ds.get("SeriesInstanceUID", "")) in set(original_series):
            problems.append(f"{path.name} is in an original series")
        if str(ds.get("SOPClassUID", "")).startswith("1.2.840.10008.5.1.4.1.1.88."):
            problems += [f"{path.name}: {p}" for p in
                         validate_sr(ds, study_instance_uid=study_uid,
                                     original_series=original_series)]
    return problems


def _reachable_by_others(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents) if p.exists())


def _cpu_exhausted(exit_code: int) -> bool:
    # SIGXCPU is the soft CPU limit; SIGKILL without a timeout or OOM is its hard limit
    return exit_code in (-signal.SIGXCPU, -signal.SIGKILL)


def _read_error(output_dir: Path) -> str | None:
    path = output_dir / "error.json"
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["type"])[:80]
    except (ValueError, KeyError, OSError):
        return "unreadable error report"


def _move_outputs(output_dir: Path, results_dir: Path, files: Sequence[Path]) -> list[Path]:
    moved: list[Path] = []
    shutil.copyfile(output_dir / "result.json", results_dir / "result.json")
    if files:
        (results_dir / "dicom").mkdir(exist_ok=True)
    for path in files:
        target = results_dir / "dicom" / path.name
        shutil.copyfile(path, target)
        os.chmod(target, 0o600)
        moved.append(target)
    return moved


def _keep_log_tail(source: Path, target: Path) -> None:
    with contextlib.suppress(OSError):
        size = source.stat().st_size
        with open(source, "rb") as f:
            f.seek(max(0, size - _LOG_TAIL_BYTES))
            target.write_bytes(f.read())
        os.chmod(target, 0o600)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _clean_env() -> dict[str, str]:
    # nothing of the edge's environment (tokens, paths) reaches an app
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
            "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@functools.cache
def _python_paths(python: str, app_paths: tuple[str, ...]) -> tuple[str, ...]:
    """The folders the app's interpreter needs (asked of the interpreter itself, once)."""
    probe = ("import json, sys, medcoop.apps.sdk as s; "
             "print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path, "
             "__import__('os').path.dirname(__import__('os').path.dirname("
             "__import__('os').path.dirname(s.__file__)))]))")
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60,
                          env=_clean_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{python} cannot import medcoop.apps.sdk: {done.stderr[-300:]}")
    found = [p for p in json.loads(done.stdout) if p and os.path.exists(p)] + list(app_paths)
    kept: list[str] = []
    for path in sorted({os.path.realpath(p) for p in found} | set(found), key=len):
        if path.startswith(("/usr/", "/proc", "/dev")) or path == "/usr":
            continue
        if any(path.startswith(k.rstrip("/") + "/") for k in kept):
            continue
        kept.append(path)
    return tuple(kept)


# --- cgroups ------------------------------------------------------------------------------
def _cgroup_support() -> str | None:
    """``"v2"``, ``"v1"`` or None: whether this process may make child cgroups."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        base = _own_cgroup_v2()
        return "v2" if base is not None and os.access(base, os.W_OK) else None
    pids = Path("/sys/fs/cgroup/pids")
    return "v1" if pids.is_dir() and os.access(pids, os.W_OK) else None


def _own_cgroup_v2() -> Path | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    return None


def _own_cgroup_v1(controller: str) -> Path | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3 and controller in parts[1].split(","):
                return Path("/sys/fs/cgroup") / controller / parts[2].lstrip("/")
    return None


class _Cgroup:
    """One run's cgroup(s): process and memory limits, OOM detection, clean-up."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs

    @property
    def has_pids(self) -> bool:
        return "pids" in self.dirs

    @classmethod
    def create(cls, run_id: str, limits: Limits) -> _Cgroup | None:
        name = f"medcoop-app-{os.getpid()}-{run_id}".replace("/", "_")
        memory = str(limits.memory_mb * 1024 * 1024)
        dirs: dict[str, Path] = {}
        try:
            if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                base = _own_cgroup_v2()
                if base is None:
                    return None
                path = base / name
                path.mkdir()
                dirs["v2"] = path
                with contextlib.suppress(OSError):
                    (path / "pids.max").write_text(str(limits.max_processes))
                    dirs["pids"] = path
                with contextlib.suppress(OSError):
                    (path / "memory.max").write_text(memory)
                    (path / "memory.swap.max").write_text("0")
                    dirs["memory"] = path
            else:
                for controller in ("pids", "memory"):
                    base = _own_cgroup_v1(controller)
                    if base is None or not os.access(base, os.W_OK):
                        continue
                    path = base / name
                    with contextlib.suppress(OSError):
                        path.mkdir()
                        limit_file = "pids.max" if controller == "pids" else "memory.limit_in_bytes"
                        value = str(limits.max_processes) if controller == "pids" else memory
                        (path / limit_file).write_text(value)
                        dirs[controller] = path
        except OSError:
            pass
        if not dirs:
            return None
        return cls(dirs)

    def join(self, pid: int) -> None:
        for path in set(self.dirs.values()):
            with contextlib.suppress(OSError):
                (path / "cgroup.procs").write_text(str(pid))

    def close(self) -> bool:
        """Kill what is left, remove the cgroups; return whether memory ran out (OOM)."""
        oom = False
        memory = self.dirs.get("memory")
        if memory is not None:
            with contextlib.suppress(OSError, ValueError):
                events = memory / ("memory.events" if "v2" in self.dirs else "memory.failcnt")
                text = events.read_text()
                if "v2" in self.dirs:
                    oom = any(line.split()[0] in ("oom_kill", "oom") and int(line.split()[1]) > 0
                              for line in text.splitlines() if line.strip())
                else:
                    oom = int(text.strip()) > 0
        for path in set(self.dirs.values()):
            for _ in range(50):
                with contextlib.suppress(OSError):
                    pids = (path / "cgroup.procs").read_text().split()
                    for pid in pids:
                        with contextlib.suppress(OSError):
                            os.kill(int(pid), signal.SIGKILL)
                    if not pids:
                        path.rmdir()
                        break
                time.sleep(0.02)
        return oom


def current_python() -> Path:
    """This interpreter (tests and ``medcoop app run`` use it as the app's python)."""
    return Path(sys.executable)
