"""Apps on the edge: which objects an installed app receives, the durable run queue, the worker.

Three pieces, wired into an :class:`~medcoop.edge.node.EdgeNode` by :func:`start_edge_apps`:

- :class:`AppInbox` is the pipeline's hook on every accepted object. When an installed
  app's manifest selectors *and* one of the site's routes (research-use-only apps never on
  a clinical route) want the object, the original file is kept under ``app-runs/inbox`` (mode
  0600, on premise) and the study's *collecting* run for that app notes it, in one
  durable commit before the sender is answered. Objects no app wants are not kept.
- A run becomes *queued* once its study is complete: a quiet period after its last
  object, or a few seconds after the edge itself decides the study is complete (MPPS
  completed with its dose report: :meth:`AppInbox.on_study_complete`, called in the
  edge's own transaction).
- :class:`AppWorker`, a thread of its own, runs queued runs one at a time through the
  :class:`~medcoop.apps.runner.Runner` (each in its own sandboxed process), records the
  outcome, queues the results for export (:mod:`medcoop.apps.export`) and deletes the
  objects it was given. Reception never waits for it; a run interrupted by a crash or a
  SIGKILL of the edge is queued again on restart (up to ``max_attempts`` tries).

Everything is in the edge's SQLite database (schema 3: ``app_runs``, ``app_objects``,
``app_exports``), keyed by the edge's pseudonymous UIDs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medcoop.apps.metering import EntitlementChecker, UsageReporter
from medcoop.apps.monitor_report import MonitorReporter, queue_report, run_report
from medcoop.apps.runner import AppInstall, Limits, Runner, RunOutcome, SandboxMode
from medcoop.apps.sdk import AppSpec
from medcoop.apps.settings import AppsSettings, Route

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from medcoop.deid.pseudonym import SiteKey
    from medcoop.edge.config import EdgeSettings
    from medcoop.edge.store import EdgeStore

__all__ = [
    "AppInbox",
    "AppWorker",
    "EdgeApp",
    "EdgeApps",
    "installed_apps",
    "start_edge_apps",
]

log = logging.getLogger("medcoop.apps.edge")

#: After the edge decides a study is complete, stragglers get this long to arrive.
SETTLE_S = 2.0
_POLL_S = 0.5
_PRUNE_INTERVAL_S = 3600.0


@dataclass(frozen=True, slots=True)
class EdgeApp:
    """One installed app version as the edge runs it: where, and with which parameters."""

    install: AppInstall
    parameters: dict[str, Any] = field(default_factory=dict)
    #: Installed from the store: entitlement checked before each run, each run metered.
    from_store: bool = False

    @property
    def spec(self) -> AppSpec:
        """The app's manifest as the runtime reads it."""
        return self.install.spec


def installed_apps(settings: EdgeSettings) -> list[EdgeApp]:
    """The apps installed on this edge: the store's installs, then ``[[apps.installed]]``.

    A store install (``medcoop edge apps install``, :mod:`medcoop.edge.apps`) that cannot
    be read is logged and left out; a configured one that cannot be read is an error.
    """
    from medcoop.apps.runner import current_python

    apps: list[EdgeApp] = []
    for item in _store_installs(settings):
        apps.append(item)
    for local in settings.apps.installed:
        spec = AppSpec.load(local.manifest)
        python = local.python or current_python()
        apps.append(EdgeApp(AppInstall(spec, python, local.app_paths), dict(local.parameters)))
    return apps


def _store_installs(settings: EdgeSettings) -> list[EdgeApp]:
    try:
        from medcoop.edge import apps as store_apps  # type: ignore[attr-defined]
    except ImportError:  # the store's edge installs are not part of this release
        return []
    lister = getattr(store_apps, "installed_apps", None)
    if lister is None:
        return []
    found: list[EdgeApp] = []
    try:
        items = lister(settings)
    except Exception:  # an unreadable install list must not stop the edge's apps
        log.exception("cannot list the store's app installs")
        return []
    for item in items:
        try:
            manifest = item.manifest
            spec = (AppSpec.from_json(manifest) if isinstance(manifest, bytes | str | dict)
                    else AppSpec.from_manifest(manifest))
            paths = tuple(Path(p) for p in getattr(item, "app_paths", ()) or ())
            found.append(EdgeApp(AppInstall(spec, Path(item.python), paths), from_store=True))
        except Exception:
            log.exception("cannot read an installed app's manifest")
    return found


# --- the pipeline's hook: keep what an app wants ------------------------------------------
class AppInbox:
    """Decides which apps want each accepted object and keeps it for their runs."""

    def __init__(
        self, settings: EdgeSettings, store: EdgeStore, key: SiteKey, apps: Sequence[EdgeApp]
    ) -> None:
        self.settings = settings
        self.config: AppsSettings = settings.apps
        self.store = store
        self.key = key
        self.apps = list(apps)
        self.inbox = settings.app_runs_dir / "inbox"
        for app in self.apps:
            clinical = [r for r in self.config.routes
                        if r.clinical and r.feeds(app.spec.id, research_only=False)]
            if app.spec.research_only and clinical:
                log.warning("research-use-only app is kept off clinical routes",
                            extra={"app": app.spec.key})

    def wanted_by(self, ds: Dataset) -> list[tuple[EdgeApp, tuple[str, ...]]]:
        """The apps that want ``ds``, each with the destinations of its results."""
        routes = [r for r in self.config.routes if r.matches(ds)]
        if not routes:
            return []
        wanted: list[tuple[EdgeApp, tuple[str, ...]]] = []
        for app in self.apps:
            feeding = [r for r in routes
                       if r.feeds(app.spec.id, research_only=app.spec.research_only)]
            if feeding and _wants(app.spec, ds):
                wanted.append((app, _destinations(feeding)))
        return wanted

    def on_object(self, ds: Dataset, data: bytes) -> None:
        """Keep ``data`` for the runs of the apps that want it (durable before returning)."""
        wanted = self.wanted_by(ds)
        if not wanted:
            return
        study_key = self.key.remap_uid(str(ds.StudyInstanceUID))
        object_key = self.key.remap_uid(str(ds.SOPInstanceUID))
        if self._is_app_output(object_key):
            return  # an app's own result, back from the PACS: never fed to an app again
        folder = self.inbox / study_key
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{object_key}.dcm"
        _write_durably(path, data)
        now = _now()
        quiet = self.config.quiet_period_s

        def work(conn: sqlite3.Connection) -> None:
            for app, destinations in wanted:
                run_id = _collecting_run(conn, study_key, app.spec.key, destinations, now, quiet)
                conn.execute(
                    "INSERT OR IGNORE INTO app_objects (run_id, object_key, path) VALUES (?, ?, ?)",
                    (run_id, object_key, str(path)),
                )

        self.store.commit_grouped(work)

    def _is_app_output(self, object_key: str) -> bool:
        with self.store.reading() as conn:
            row = conn.execute("SELECT 1 FROM app_outputs WHERE object_key = ?", (object_key,))
            return row.fetchone() is not None

    def on_study_complete(self, conn: sqlite3.Connection, study_key: str) -> None:
        """The edge decided ``study_key`` is complete: its runs are due shortly (in the
        caller's transaction)."""
        conn.execute(
            "UPDATE app_runs SET complete = 1, due_at = MIN(due_at, ?) "
            "WHERE study_key = ? AND state = 'collecting'",
            (_now() + SETTLE_S, study_key),
        )


def _wants(spec: AppSpec, ds: Dataset) -> bool:
    try:
        return spec.wants(ds)
    except Exception:  # a value the selectors cannot read: this object is not for the app
        return False


def _destinations(routes: Sequence[Route]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(d for r in routes for d in r.destinations))


def _collecting_run(
    conn: sqlite3.Connection,
    study_key: str,
    app_key: str,
    destinations: tuple[str, ...],
    now: float,
    quiet: float,
) -> int:
    row = conn.execute(
        "SELECT id, destinations, complete FROM app_runs "
        "WHERE study_key = ? AND app_key = ? AND state = 'collecting'",
        (study_key, app_key),
    ).fetchone()
    if row is None:
        cursor = conn.execute(
            "INSERT INTO app_runs (study_key, app_key, state, destinations, created_at, "
            "last_object_at, due_at) VALUES (?, ?, 'collecting', ?, ?, ?, ?)",
            (study_key, app_key, json.dumps(list(destinations)), now, now, now + quiet),
        )
        return int(cursor.lastrowid or 0)
    run_id, known, complete = row
    merged = list(dict.fromkeys([*json.loads(known), *destinations]))
    due = now + (SETTLE_S if complete else quiet)
    conn.execute(
        "UPDATE app_runs SET last_object_at = ?, due_at = ?, destinations = ? WHERE id = ?",
        (now, due, json.dumps(merged), run_id),
    )
    return int(run_id)


# --- the worker ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run taken off the queue."""

    run_id: int
    study_key: str
    app_key: str
    destinations: tuple[str, ...]
    paths: tuple[Path, ...]


class AppWorker:
    """Runs queued app runs in a thread of its own, one at a time."""

    def __init__(
        self,
        settings: EdgeSettings,
        store: EdgeStore,
        apps: Sequence[EdgeApp],
        runner: Runner,
        *,
        on_results: Callable[[], None] | None = None,
        key: SiteKey | None = None,
        entitlements: EntitlementChecker | None = None,
        on_metered: Callable[[], None] | None = None,
        on_reported: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_reported = on_reported
        self.key = key
        self.entitlements = entitlements or EntitlementChecker(settings)
        self._on_metered = on_metered or (lambda: None)
        self.config = settings.apps
        self.store = store
        self.apps = {app.spec.key: app for app in apps}
        self.runner = runner
        self.results = settings.app_runs_dir / "results"
        self._on_results = on_results or (lambda: None)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Requeue runs a crash interrupted, then start the worker thread."""
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="medcoop-apps", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the run in progress (a run still going is requeued on restart)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def wake(self) -> None:
        """Look for due runs now."""
        self._wake.set()

    def recover(self) -> int:
        """Queue again the runs left *running* by a crash; fail those out of tries; delete
        the workspaces that crash left."""
        self.runner.clear_workspaces()
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE app_runs SET state = 'failed', reason = 'interrupted', finished_at = ?,"
                " detail = 'the edge stopped during the run, too many times' "
                "WHERE state = 'running' AND attempts >= ?",
                (_now(), self.config.max_attempts),
            )
            return conn.execute(
                "UPDATE app_runs SET state = 'queued' WHERE state = 'running'"
            ).rowcount

    def prune(self, now: float | None = None) -> int:
        """Delete result folders of runs finished more than ``retention_days`` ago (their
        findings and logs are the patient's, on premise); return how many."""
        now = _now() if now is None else now
        cutoff = now - self.settings.storage.retention_days * 86400.0
        with self.store.reading() as conn:
            old = [r for (r,) in conn.execute(
                "SELECT id FROM app_runs WHERE finished_at < ? AND NOT EXISTS (SELECT 1 FROM "
                "app_exports e WHERE e.run_id = app_runs.id AND e.sent_at IS NULL)", (cutoff,))]
        removed = 0
        for run_id in old:
            folder = self.results / str(run_id)
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def _loop(self) -> None:
        last_prune = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_prune > _PRUNE_INTERVAL_S:
                last_prune = time.monotonic()
                with contextlib.suppress(Exception):
                    self.prune()
            try:
                worked = self.step()
            except Exception:  # the worker outlives any one bad run; it is logged
                log.exception("app worker step failed")
                worked = False
            if not worked:
                self._wake.wait(_POLL_S)
                self._wake.clear()

    def step(self) -> bool:
        """Queue the due runs, then run one queued run; return whether one ran."""
        self.promote_due()
        claimed = self.claim()
        if claimed is None:
            return False
        self.execute(claimed)
        return True

    def promote_due(self, now: float | None = None) -> int:
        """Queue the collecting runs whose study is complete."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE app_runs SET state = 'queued' WHERE state = 'collecting' AND due_at <= ?",
                (_now() if now is None else now,),
            ).rowcount

    def claim(self) -> ClaimedRun | None:
        """Take the oldest queued run (marked *running*, one more attempt)."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT id, study_key, app_key, destinations FROM app_runs "
                "WHERE state = 'queued' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE app_runs SET state = 'running', started_at = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (_now(), row[0]),
            )
            paths = [Path(p) for (p,) in conn.execute(
                "SELECT path FROM app_objects WHERE run_id = ? ORDER BY object_key", (row[0],))]
        return ClaimedRun(row[0], row[1], row[2], tuple(json.loads(row[3])), tuple(paths))

    def execute(self, claimed: ClaimedRun) -> RunOutcome | None:
        """Run one claimed run and record what became of it."""
        app = self.apps.get(claimed.app_key)
        if app is None:
            self._finish(claimed, None, "uninstalled", "the app is no longer installed")
            return None
        paths = [p for p in claimed.paths if p.is_file()]
        if not paths:
            self._finish(claimed, None, "no_input", "its objects are gone")
            return None
        if app.from_store:
            decision = self.entitlements.check(app.spec.id)
            if not decision.allowed:  # an expired trial or entitlement stops new runs
                self._finish(claimed, None, "not_entitled", decision.reason or "refused")
                return None
        study_uid, series = _study_of(paths)
        try:
            outcome = self.runner.run(
                app.install, paths, self.results / str(claimed.run_id),
                study_instance_uid=study_uid, original_series=series,
                parameters=app.parameters, run_id=str(claimed.run_id),
            )
        except Exception as exc:  # the runner's own failure: recorded, never left running
            log.exception("app runner failed")
            self._finish(claimed, None, "runtime_error", type(exc).__name__)
            return None
        self._finish(claimed, outcome, None, None, meter_as=app.spec.id if app.from_store else None)
        return outcome

    def _queue_monitor_report(
        self,
        conn: sqlite3.Connection,
        claimed: ClaimedRun,
        outcome: RunOutcome | None,
        reason: str | None,
        now: float,
    ) -> None:
        """Queue the run's report for the hub's monitoring (in the run's transaction)."""
        app = self.apps.get(claimed.app_key)
        if app is None:  # uninstalled: no app version to report it under
            return
        row = conn.execute("SELECT started_at FROM app_runs WHERE id = ?",
                           (claimed.run_id,)).fetchone()
        report = run_report(
            edge_name=self.settings.name, run_id=claimed.run_id, study_key=claimed.study_key,
            app_id=app.spec.id, app_version=app.spec.version, outcome=outcome, reason=reason,
            started_at_s=row[0] if row else None, finished_at_s=now,
        )
        queue_report(conn, claimed.run_id, report, now)
        if self.on_reported is not None:
            self.on_reported()

    def _finish(
        self,
        claimed: ClaimedRun,
        outcome: RunOutcome | None,
        reason: str | None,
        detail: str | None,
        *,
        meter_as: str | None = None,
    ) -> None:
        now = _now()
        metered = False
        exported = 0
        with self.store.transaction() as conn:
            if outcome is not None:
                reason = outcome.reason.value if outcome.reason else None
                detail = outcome.detail
            conn.execute(
                "UPDATE app_runs SET state = ?, finished_at = ?, reason = ?, detail = ?, "
                "sandbox = ?, duration_s = ? WHERE id = ?",
                ("succeeded" if outcome is not None and outcome.succeeded else "failed", now,
                 reason, detail, self.runner.mode.value,
                 outcome.duration_s if outcome is not None else None, claimed.run_id),
            )
            self._queue_monitor_report(conn, claimed, outcome, reason, now)
            if outcome is not None and outcome.succeeded:
                for object_key in self._output_keys(outcome.dicom_files):
                    conn.execute("INSERT OR IGNORE INTO app_outputs (object_key, run_id, "
                                 "created_at) VALUES (?, ?, ?)", (object_key, claimed.run_id, now))
                for path in outcome.dicom_files:
                    for destination in claimed.destinations:
                        conn.execute(
                            "INSERT INTO app_exports (run_id, destination, path, created_at, "
                            "next_at) VALUES (?, ?, ?, ?, ?)",
                            (claimed.run_id, destination, str(path), now, now),
                        )
                        exported += 1
            if outcome is not None and outcome.succeeded and meter_as is not None:
                run_key = f"{self.settings.name}:{claimed.study_key[-24:]}:{claimed.run_id}"
                conn.execute("INSERT OR IGNORE INTO app_usage (run_id, app_id, run_key, "
                             "created_at, next_at) VALUES (?, ?, ?, ?, ?)",
                             (claimed.run_id, meter_as, run_key[:100], now, now))
                metered = True
            released = _release_objects(conn, claimed.run_id)
        for path in released:  # after the commit: a crash before it keeps the files
            with contextlib.suppress(OSError):
                path.unlink()
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the study's folder, once empty
        if outcome is not None and not outcome.succeeded:
            log.warning("app run failed", extra={"app": claimed.app_key, "run_id": claimed.run_id,
                                                 "reason": reason})
        if exported:
            self._on_results()
        if metered and meter_as is not None:
            self.entitlements.forget(meter_as)  # the next run asks the hub again
            self._on_metered()


    def _output_keys(self, paths: Sequence[Path]) -> list[str]:
        """The pseudonymous SOP Instance UIDs of a run's DICOM outputs."""
        if self.key is None:
            return []
        import pydicom

        keys = []
        for path in paths:
            with contextlib.suppress(Exception):  # the runner has read each already
                ds = pydicom.dcmread(path, stop_before_pixels=True,
                                     specific_tags=["SOPInstanceUID"])
                keys.append(self.key.remap_uid(str(ds.SOPInstanceUID)))
        return keys


def _release_objects(conn: sqlite3.Connection, run_id: int) -> list[Path]:
    """Forget a finished run's objects; return the files no other pending run needs."""
    paths = [p for (p,) in conn.execute("SELECT path FROM app_objects WHERE run_id = ?",
                                        (run_id,))]
    conn.execute("DELETE FROM app_objects WHERE run_id = ?", (run_id,))
    unused = []
    for path in paths:
        if conn.execute("SELECT 1 FROM app_objects WHERE path = ? LIMIT 1", (path,)).fetchone():
            continue
        unused.append(Path(path))
    return unused


def _study_of(paths: Sequence[Path]) -> tuple[str | None, list[str]]:
    """The original Study Instance UID and series of a run's objects (read on premise)."""
    import pydicom

    study: str | None = None
    series: set[str] = set()
    for path in paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True,
                                 specific_tags=["StudyInstanceUID", "SeriesInstanceUID"])
        except Exception:
            continue
        study = study or str(ds.get("StudyInstanceUID", "")) or None
        series.add(str(ds.get("SeriesInstanceUID", "")))
    return study, sorted(series)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _now() -> float:
    from medcoop.edge.store import now_s

    return now_s()


# --- wiring -------------------------------------------------------------------------------
class EdgeApps:
    """The edge's app machinery, started and stopped with the node."""

    def __init__(
        self,
        inbox: AppInbox,
        worker: AppWorker,
        exporter: Any,
        usage: UsageReporter,
        monitor: MonitorReporter | None = None,
    ) -> None:
        self.inbox = inbox
        self.worker = worker
        self.exporter = exporter
        self.usage = usage
        self.monitor = monitor

    @property
    def runner(self) -> Runner:
        """The runner (its :meth:`~Runner.describe` is the sandbox line of the status)."""
        return self.worker.runner

    def stop(self) -> None:
        """Stop the worker (after its run) and the exporters."""
        self.worker.stop()
        self.exporter.stop()
        self.usage.stop()
        if self.monitor is not None:
            self.monitor.stop()


def start_edge_apps(settings: EdgeSettings, store: EdgeStore, pipeline: Any) -> EdgeApps | None:
    """Start apps on this edge when ``[apps] enabled``; hook them into ``pipeline``.

    Returns None when apps are off (nothing is hooked, nothing kept).
    """
    from medcoop.apps.export import Exporter

    config = settings.apps
    if not config.enabled:
        return None
    apps = installed_apps(settings)
    limits = Limits(cpu_s=config.cpu_s, memory_mb=config.memory_mb, wall_s=config.wall_s,
                    max_output_bytes=config.max_output_bytes,
                    max_processes=config.max_processes)
    # this edge's own workspace prefix, so that a restart clears what a crash of it left
    edge_id = hashlib.sha256(str(settings.db_path.resolve()).encode()).hexdigest()[:12]
    runner = Runner(limits, mode=SandboxMode.RLIMITS if config.sandbox == "rlimits" else None,
                    workspace_prefix=f"medcoop-app-{edge_id}-")
    sandbox = runner.describe()
    if runner.mode is SandboxMode.RLIMITS:
        log.warning("apps run with rlimits only", extra={"sandbox": sandbox})
    else:
        log.info("apps run sandboxed", extra={"sandbox": sandbox})
    store.set_meta("apps_sandbox", sandbox)
    inbox = AppInbox(settings, store, pipeline.key, apps)
    exporter = Exporter(settings, store)
    usage = UsageReporter(settings, store)
    monitor = MonitorReporter(settings, store)
    worker = AppWorker(settings, store, apps, runner, on_results=exporter.wake, key=pipeline.key,
                       on_metered=usage.wake, on_reported=monitor.wake)
    pipeline.on_object = inbox.on_object
    pipeline.on_study_complete = inbox.on_study_complete
    exporter.start()
    usage.start()
    monitor.start()
    worker.start()
    return EdgeApps(inbox, worker, exporter, usage, monitor)

