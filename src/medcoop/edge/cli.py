"""``medcoop edge``: set up, enroll, run and inspect a hospital's edge node.

Heavy imports (pynetdicom, uvicorn, the pipeline) happen inside the commands so that
``medcoop --help`` stays fast.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer
from rich.console import Console

from medcoop.output import (
    CSV_OPTION,
    JSON_OPTION,
    Column,
    OutputFormat,
    View,
    emit,
    make_console,
    output_format,
)

__all__ = ["app"]

app = typer.Typer(help="The hospital edge node: receive DICOM, de-identify, deliver to the hub.")
consent_app = typer.Typer(help="Patients' opt-outs from pooling (kept as pseudonyms only).")
quarantine_app = typer.Typer(help="Objects the edge could not process.")
app.add_typer(consent_app, name="consent")
app.add_typer(quarantine_app, name="quarantine")
from medcoop.edge.apps.cli import app as apps_app  # noqa: E402  (store apps: TUF installs)

app.add_typer(apps_app, name="apps")
console = Console()
err = Console(stderr=True)

CONFIG_OPTION = typer.Option(
    Path("medcoop-edge.toml"), "--config", "-c", help="The edge's TOML configuration file."
)


def _settings(config: Path):  # type: ignore[no-untyped-def]
    from medcoop.edge.config import load_settings
    from medcoop.edge.errors import ConfigError

    try:
        return load_settings(config)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def init(
    path: Path = typer.Argument(Path("medcoop-edge.toml"), help="Where to write the file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    host: str | None = typer.Option(
        None,
        "--host",
        help="Listening address of the receivers (default 127.0.0.1: this machine only; "
        "asked when run in a terminal).",
    ),
    allow_aet: list[str] = typer.Option(
        [], "--allow-aet", help="A calling AE title allowed to send (repeat; '*' for any)."
    ),
) -> None:
    """Write a commented configuration file (mode 0600) with secure defaults.

    The receivers listen on 127.0.0.1 unless ``--host`` (or the answer to the question
    asked in a terminal) says otherwise; only the calling AE titles given are accepted;
    STOW-RS gets a random bearer token.
    """
    import sys

    from medcoop.edge.config import DEFAULT_HOST, write_default_config
    from medcoop.edge.errors import ConfigError

    if host is None:
        host = DEFAULT_HOST
        if sys.stdin.isatty():
            host = typer.prompt(
                "Listen on which address? 127.0.0.1 = this machine only, 0.0.0.0 = every "
                "network (modalities must reach it)",
                default=DEFAULT_HOST,
            )
    aets = tuple(a.strip() for a in allow_aet if a.strip())
    if not aets and sys.stdin.isatty():
        answer = typer.prompt(
            "Calling AE titles allowed to send (comma-separated; empty: none yet)",
            default="",
            show_default=False,
        )
        aets = tuple(a.strip() for a in answer.split(",") if a.strip())
    try:
        written = write_default_config(
            path, overwrite=force, host=host, allowed_calling_aets=aets
        )
    except ConfigError as exc:
        err.print(f"[red]{exc}[/] (use --force to replace it)")
        raise typer.Exit(1) from exc
    console.print(f"wrote {written} (receivers on {host})", highlight=False)
    if not aets:
        console.print(
            "no calling AE title is allowed yet: list your modalities' and PACS's AE titles "
            "in [dicom] allowed_calling_aets",
            highlight=False,
        )


@app.command()
def enroll(
    code: str = typer.Argument(..., help="The one-time enrollment code from the hub."),
    hub: str = typer.Option(..., "--hub", help="The hub's base URL."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Exchange an enrollment code for a site token and store it in the config (0600)."""
    from medcoop.edge.enrollment import enroll as enroll_at
    from medcoop.edge.errors import EnrollmentError

    settings = _settings(config) if config.exists() else None
    try:
        body = enroll_at(config, code, hub, edge_name=settings.name if settings else "edge")
    except EnrollmentError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(
        f"enrolled as site {body.get('site', body.get('site_id'))}; token saved in {config}"
    )


@app.command()
def serve(config: Path = CONFIG_OPTION) -> None:
    """Run the receivers and the uploader until SIGTERM or Ctrl-C."""
    import pydicom

    from medcoop.edge.logs import configure_logging
    from medcoop.edge.node import EdgeNode

    settings = _settings(config)
    configure_logging()
    # pydicom's validation warnings quote the invalid values, which may identify a patient.
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    node = EdgeNode(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    node.start()
    ports = []
    if node.dicom is not None:
        ports.append(
            f"DICOM {settings.dicom.ae_title}@{settings.dicom.host}:{node.dicom_port}"
        )
    if node.stow is not None:
        ports.append(f"STOW-RS {node.stow.scheme}://{settings.stow.host}:{node.stow_port}")
    err.print(f"medcoop edge '{settings.name}' serving ({', '.join(ports)})", highlight=False)
    stop.wait()
    node.stop()


@app.command()
def status(
    config: Path = CONFIG_OPTION,
    studies: int = typer.Option(20, "--studies", help="Open studies to list (0: none)."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
) -> None:
    """Show counts, the backlog, when each open study will be sent, and the quarantine."""
    from medcoop.apps.edge_cli import apps_summary_view
    from medcoop.edge.node import open_pipeline
    from medcoop.edge.status import read_status

    output = output_format(as_json, as_csv)
    store, pipeline = open_pipeline(_settings(config))
    try:
        snapshot = read_status(pipeline, quarantine_limit=50)
        apps_view = apps_summary_view(pipeline)  # on-premise apps: runs, failures, sandbox
    finally:
        store.close()
    counters = snapshot.counters.items()
    rows: list[tuple[str, object]] = [(name.replace("_", " "), n) for name, n in counters]
    rows += [
        ("open studies", snapshot.open_studies),
        ("backlog (records)", snapshot.backlog.size),
        ("backlog (bytes)", snapshot.backlog.size_bytes),
        ("backlog age (s)", round(snapshot.backlog.age_s())),
        ("rejected by hub", snapshot.backlog.rejected),
        ("opted-out patients", snapshot.opted_out_patients),
        ("last upload", snapshot.last_upload_at or "never"),
        ("upload error", snapshot.upload_error or "none"),
        ("hub refuses this site's token", snapshot.auth_failed),
    ]
    views = [
        View(
            "medcoop edge",
            (Column("what", "what"), Column("value", "value", justify="right")),
            [{"what": what, "value": value} for what, value in rows],
            notes=(
                ("the hub refuses this site's token: re-enroll (medcoop edge enroll)",)
                if snapshot.auth_failed
                else ()
            ),
        )
    ]
    if studies > 0:
        views.append(_pending_view(snapshot.pending[:studies], snapshot.open_studies))
    views.append(_reasons_view(snapshot.quarantine_by_reason))
    views.append(_quarantine_view(snapshot.quarantine))
    views += [apps_view] if apps_view is not None else []
    if output is OutputFormat.TABLE:  # a person reads no empty tables; programs get every key
        views = [views[0], *(view for view in views[1:] if view.records)]
    emit(views, output, make_console())


def _pending_view(pending: list, total: int) -> View:  # type: ignore[type-arg]
    return View(
        f"open studies ({total}): when each is sent if nothing else arrives",
        (
            Column("study_uid", "study (pseudonymous UID)", format=lambda u: "…" + u[-20:]),
            Column("last_object_at", "last object (UTC)", format=_utc),
            Column("send_at", "sent at (UTC)", format=_utc),
            Column("because", "because"),
        ),
        [
            {
                "study_uid": item.study_uid,
                "last_object_at": item.last_object_at,
                "send_at": item.send_at,
                "because": item.why + (" (update)" if item.update else ""),
            }
            for item in pending
        ],
    )


def _reasons_view(counts: dict[str, int]) -> View:
    return View(
        "quarantine by reason",
        (Column("reason", "reason"), Column("objects", "objects", justify="right")),
        [{"reason": reason, "objects": count} for reason, count in counts.items()],
    )


def _quarantine_view(items: list) -> View:  # type: ignore[type-arg]
    return View(
        "quarantine",
        (
            Column("id", "id", justify="right"),
            Column("since", "since", format=_utc),
            Column("reason", "reason"),
            Column("found", "found (field: kind)"),
            Column("sender", "sender"),
            Column("seen", "seen", justify="right"),
            Column("file", "file"),
        ),
        [
            {
                "id": item.quarantine_id,
                "since": item.created_at,
                "reason": item.reason_code.value,
                "found": "; ".join(f"{f}: {k}" for f, k in item.findings) or item.reason,
                "sender": item.sender or item.origin,
                "seen": item.seen_count,
                "file": item.file_path.name if item.file_path else "-",
            }
            for item in items
        ],
    )


def _utc(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


@app.command("import")
def import_folder(
    path: Path = typer.Argument(..., exists=True, help="A file or folder of DICOM files."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Back-load a folder of DICOM files (recursively), with a progress bar.

    Prints how many files were stored, skipped, withheld or quarantined, and why each
    quarantined file was (``medcoop edge quarantine list`` shows the entries).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from medcoop.edge.importer import count_files, import_path
    from medcoop.edge.node import open_pipeline

    store, pipeline = open_pipeline(_settings(config))
    try:
        total = count_files(path)
        columns = (
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} objects/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("importing", total=total, rate="-")

            def advance(done: int, total: int) -> None:
                elapsed = progress.tasks[0].elapsed or 0.0
                rate = f"{done / elapsed:.0f}" if elapsed > 0 else "-"
                progress.update(task, completed=done, total=total, rate=rate)

            summary = import_path(pipeline, path, on_file=advance, total=total)
        pipeline.emit_due()
    finally:
        store.close()
    if not summary.files:
        console.print("no files")
        return
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary.outcomes.items()))
    console.print(
        f"{summary.files} files in {summary.seconds:.1f} s ({summary.objects_per_s:.0f} "
        f"objects/s): {counts}",
        highlight=False,
    )
    if summary.quarantine_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in summary.quarantine_reasons.most_common())
        console.print(
            f"quarantined {sum(summary.quarantine_reasons.values())} by reason: {reasons} "
            "(see `medcoop edge quarantine list`)",
            highlight=False,
        )
    if summary.stopped_early:
        err.print("[red]storage refused objects: import stopped; free space and run it again[/]")
        raise typer.Exit(1)


@consent_app.command("opt-out")
def opt_out(
    patient_id: str = typer.Argument(..., help="The patient's ID (stored only as a pseudonym)."),
    issuer: str = typer.Option("", "--issuer", help="Issuer of the patient ID."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Exclude a patient from pooling."""
    from medcoop.edge.node import open_pipeline

    store, pipeline = open_pipeline(_settings(config))
    try:
        pipeline.consent.opt_out(patient_id, issuer)
    finally:
        store.close()
    console.print("opt-out recorded (pseudonym only)")


@consent_app.command("opt-in")
def opt_in(
    patient_id: str = typer.Argument(..., help="The patient's ID."),
    issuer: str = typer.Option("", "--issuer", help="Issuer of the patient ID."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Withdraw a patient's opt-out."""
    from medcoop.edge.node import open_pipeline

    store, pipeline = open_pipeline(_settings(config))
    try:
        removed = pipeline.consent.opt_in(patient_id, issuer)
    finally:
        store.close()
    console.print("opt-out withdrawn" if removed else "no opt-out was recorded for this patient")


def _reason_option(value: str | None):  # type: ignore[no-untyped-def]
    from medcoop.edge.quarantine import QuarantineReason

    if value is None:
        return None
    try:
        return QuarantineReason(value)
    except ValueError as exc:
        choices = ", ".join(r.value for r in QuarantineReason)
        raise typer.BadParameter(f"one of: {choices}") from exc


REASON_OPTION = typer.Option(None, "--reason", help="Only entries with this reason code.")


def _decide(kind: str, patient_id: str, issuer: str, fhir: Path | None, config: Path) -> None:
    """Record a decision locally, submit it to the hub's ledger, write the receipt."""
    import json
    from datetime import date

    import httpx

    from medcoop.edge.consent import PatientDecision, from_fhir_consent, site_of, submit_to_hub
    from medcoop.edge.node import open_pipeline
    from medcoop.ledger.entries import Decision

    settings = _settings(config)
    if fhir is not None:
        raw = fhir.read_bytes()
        decision = from_fhir_consent(json.loads(raw), raw=raw)
    else:
        choice = Decision(kind)
        decision = PatientDecision(patient_id, issuer, choice, choice, "pooling", date.today())
    hub = settings.hub
    if not (hub.url and hub.site_token):
        err.print("[red]the edge is not enrolled with a hub[/]")
        raise typer.Exit(2)
    store, pipeline = open_pipeline(settings)
    try:
        site = site_of(hub_url=hub.url, site_token=hub.site_token)
        entry = pipeline.consent.record(decision, site=site)
        console.print(f"{entry.pooling} recorded locally (pseudonym only)")
        (receipt,) = submit_to_hub([entry], hub_url=hub.url, site_token=hub.site_token)
    except httpx.HTTPError as exc:
        err.print(f"[red]the hub's ledger did not take the decision:[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    path = Path(f"consent-receipt-{receipt.index}.json")
    path.write_text(receipt.to_json())
    console.print(f"in the ledger at index {receipt.index}; receipt written to {path}")


@consent_app.command("deny")
def consent_deny(
    patient_id: str = typer.Argument("", help="The patient's ID (stored only as a pseudonym)."),
    issuer: str = typer.Option("", "--issuer", help="Issuer of the patient ID."),
    fhir: Path | None = typer.Option(None, "--fhir", help="A FHIR R4 Consent (JSON) instead."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Record a patient's denial of pooling, log it at the hub, write their receipt."""
    _decide("deny", patient_id, issuer, fhir, config)


@consent_app.command("permit")
def consent_permit(
    patient_id: str = typer.Argument("", help="The patient's ID (stored only as a pseudonym)."),
    issuer: str = typer.Option("", "--issuer", help="Issuer of the patient ID."),
    fhir: Path | None = typer.Option(None, "--fhir", help="A FHIR R4 Consent (JSON) instead."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Record a patient's permission to pool, log it at the hub, write their receipt."""
    _decide("permit", patient_id, issuer, fhir, config)


@quarantine_app.command("list")
def quarantine_list(
    reason: str | None = REASON_OPTION,
    config: Path = CONFIG_OPTION,
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
) -> None:
    """List quarantined objects: reason, field and kind of each finding (never the value),
    the sender and the file."""
    from medcoop.edge.node import open_pipeline

    output = output_format(as_json, as_csv)
    code = _reason_option(reason)
    store, pipeline = open_pipeline(_settings(config))
    try:
        views = [
            _reasons_view(pipeline.quarantine.counts_by_reason()),
            _quarantine_view(pipeline.quarantine.list(code=code)),
        ]
    finally:
        store.close()
    emit(views, output, make_console())


@quarantine_app.command("retry")
def quarantine_retry(
    quarantine_id: int | None = typer.Argument(None, help="The quarantined object's ID."),
    all_: bool = typer.Option(False, "--all", help="Retry every quarantined object."),
    reason: str | None = REASON_OPTION,
    config: Path = CONFIG_OPTION,
) -> None:
    """Process quarantined objects again after a change (``deid.allow_terms``, an upgrade):
    those that now pass leave the quarantine; the others keep this try's reason."""
    from collections import Counter

    from medcoop.edge.node import open_pipeline

    code = _reason_option(reason)
    if quarantine_id is None and not all_ and code is None:
        err.print("[red]give an ID, --reason or --all[/]")
        raise typer.Exit(2)
    store, pipeline = open_pipeline(_settings(config))
    released: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    try:
        items = (
            [pipeline.quarantine.get(quarantine_id)]
            if quarantine_id is not None
            else pipeline.quarantine.list(limit=10_000_000, code=code)
        )
        for item in items:
            result = pipeline.retry_item(item)
            (released if result.accepted_now else kept)[result.code.value] += 1
        pipeline.emit_due()
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    console.print(f"{sum(released.values())} of {len(items)} released from quarantine")
    for label, counts in (("released", released), ("still quarantined", kept)):
        if counts:
            text = ", ".join(f"{k}: {v}" for k, v in counts.most_common())
            console.print(f"{label}: {text}", highlight=False)


@quarantine_app.command("purge")
def quarantine_purge(
    quarantine_id: int = typer.Argument(..., help="The quarantined object's ID."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Delete a quarantined object for good."""
    from medcoop.edge.node import open_pipeline

    store, pipeline = open_pipeline(_settings(config))
    try:
        pipeline.quarantine.purge(quarantine_id)
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    console.print(f"purged {quarantine_id}")
