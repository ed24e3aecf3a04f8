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
from rich.table import Table

__all__ = ["app"]

app = typer.Typer(help="The hospital edge node: receive DICOM, de-identify, deliver to the hub.")
consent_app = typer.Typer(help="Patients' opt-outs from pooling (kept as pseudonyms only).")
quarantine_app = typer.Typer(help="Objects the edge could not process.")
app.add_typer(consent_app, name="consent")
app.add_typer(quarantine_app, name="quarantine")
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
) -> None:
    """Write a commented configuration file (mode 0600)."""
    from medcoop.edge.config import write_default_config
    from medcoop.edge.errors import ConfigError

    try:
        written = write_default_config(path, overwrite=force)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/] (use --force to replace it)")
        raise typer.Exit(1) from exc
    console.print(f"wrote {written}")


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
        ports.append(f"dicom={node.dicom_port}")
    if node.stow is not None:
        ports.append(f"stow={node.stow_port}")
    err.print(f"edge {settings.name} serving ({', '.join(ports)})", highlight=False)
    stop.wait()
    node.stop()


@app.command()
def status(config: Path = CONFIG_OPTION) -> None:
    """Show received/processed/queued/sent/quarantined counts, the backlog and the quarantine."""
    from medcoop.edge.node import open_pipeline
    from medcoop.edge.status import read_status

    store, pipeline = open_pipeline(_settings(config))
    try:
        snapshot = read_status(pipeline)
    finally:
        store.close()
    table = Table(title="medcoop edge")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, value in snapshot.counters.items():
        table.add_row(name.replace("_", " "), str(value))
    table.add_row("open studies", str(snapshot.open_studies))
    table.add_row("backlog (records)", str(snapshot.backlog.size))
    table.add_row("backlog (bytes)", str(snapshot.backlog.size_bytes))
    table.add_row("backlog age (s)", f"{snapshot.backlog.age_s():.0f}")
    table.add_row("rejected by hub", str(snapshot.backlog.rejected))
    table.add_row("opted-out patients", str(snapshot.opted_out_patients))
    table.add_row("last upload", snapshot.last_upload_at or "never")
    table.add_row("upload error", snapshot.upload_error or "none")
    console.print(table)
    if snapshot.auth_failed:
        console.print("[red]the hub refuses this site's token: re-enroll (medcoop edge enroll)[/]")
    if snapshot.quarantine:
        _print_quarantine(snapshot.quarantine)


def _print_quarantine(items: list) -> None:  # type: ignore[type-arg]
    table = Table(title="quarantine")
    for column in ("id", "since", "origin", "bytes", "reason"):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item.quarantine_id),
            item.created_at.isoformat(timespec="seconds"),
            item.origin,
            str(item.size_bytes),
            item.reason,
        )
    console.print(table)


@app.command("import")
def import_folder(
    path: Path = typer.Argument(..., exists=True, help="A file or folder of DICOM files."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Back-load a folder of DICOM files (recursively), with a progress bar."""
    from rich.progress import Progress

    from medcoop.edge.importer import import_path
    from medcoop.edge.node import open_pipeline

    store, pipeline = open_pipeline(_settings(config))
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("importing", total=None)
            summary = import_path(
                pipeline,
                path,
                on_file=lambda n, total: progress.update(task, completed=n, total=total),
            )
        pipeline.emit_due()
    finally:
        store.close()
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(summary.items())) or "no files")
    if summary.get("refused"):
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
def quarantine_list(config: Path = CONFIG_OPTION) -> None:
    """List quarantined objects (reasons never hold identifying values)."""
    from medcoop.edge.node import open_pipeline

    store, pipeline = open_pipeline(_settings(config))
    try:
        _print_quarantine(pipeline.quarantine.list())
    finally:
        store.close()


@quarantine_app.command("retry")
def quarantine_retry(
    quarantine_id: int | None = typer.Argument(None, help="The quarantined object's ID."),
    all_: bool = typer.Option(False, "--all", help="Retry every quarantined object."),
    config: Path = CONFIG_OPTION,
) -> None:
    """Process quarantined objects again (after a fix); those that pass leave the quarantine."""
    from medcoop.edge.node import open_pipeline

    if quarantine_id is None and not all_:
        err.print("[red]give an ID or --all[/]")
        raise typer.Exit(2)
    store, pipeline = open_pipeline(_settings(config))
    try:
        ids = (
            [quarantine_id]
            if quarantine_id is not None
            else [q.quarantine_id for q in pipeline.quarantine.list(limit=1_000_000)]
        )
        released = sum(pipeline.retry_quarantined(qid) for qid in ids)
        pipeline.emit_due()
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(1) from exc
    finally:
        store.close()
    console.print(f"{released} of {len(ids)} released from quarantine")


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
