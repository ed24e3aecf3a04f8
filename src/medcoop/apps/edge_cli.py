"""``medcoop edge apps runs``: the edge's app runs, their failures and exports, and the sandbox.

Registered on the ``medcoop edge apps`` sub-app (the store's installs own the sub-app).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from medcoop.output import (
    CSV_OPTION,
    DASH,
    JSON_OPTION,
    Column,
    View,
    emit,
    make_console,
    output_format,
)

__all__ = ["apps_status_html", "apps_summary_view", "runs_command", "runs_views"]


def runs_command(
    config: Path = typer.Option(Path("medcoop-edge.toml"), "--config", "-c",
                                help="The edge's configuration file."),
    limit: int = typer.Option(50, min=1, help="How many runs (newest first)."),
    state: str | None = typer.Option(None, help="Only runs in this state (collecting, "
                                                "queued, running, succeeded, failed)."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
) -> None:
    """List app runs: state, failure reason, exports, and what sandbox they ran in."""
    from medcoop.edge.config import load_settings
    from medcoop.edge.errors import ConfigError
    from medcoop.edge.store import EdgeStore

    output = output_format(as_json, as_csv)
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    store = EdgeStore(settings.db_path)
    try:
        views = runs_views(store, limit=limit, state=state)
    finally:
        store.close()
    emit(views, output, make_console())


def runs_views(store: object, *, limit: int = 50, state: str | None = None) -> list[View]:
    """The summary and the runs, as views (CLI and web alike)."""
    from medcoop.apps.runner import Runner
    from medcoop.apps.status import apps_status, list_runs

    status = apps_status(store)  # type: ignore[arg-type]
    sandbox = status.sandbox or Runner().describe() + " (as this machine offers; not yet run)"
    summary: list[dict[str, object]] = [{"what": "sandbox", "value": sandbox}]
    summary += [{"what": f"runs {name}", "value": count}
                for name, count in sorted(status.by_state.items())]
    summary += [{"what": f"failed: {reason}", "value": count}
                for reason, count in sorted(status.failures_by_reason.items(),
                                            key=lambda kv: str(kv[0]))]
    summary += [{"what": f"exports pending to {dest}", "value": count}
                for dest, count in sorted(status.exports_pending_by_destination.items())]
    summary += [{"what": f"last export error ({dest})", "value": error}
                for dest, error in sorted(status.last_export_error_by_destination.items())]
    runs = list_runs(store, limit=limit, state=state)  # type: ignore[arg-type]
    return [
        View("edge apps", (Column("what", "what"), Column("value", "value")), summary),
        View("app runs (newest first)", (
            Column("run_id", "run", justify="right"),
            Column("app", "app"),
            Column("study", "study (pseudonymous)", format=lambda u: "…" + str(u)[-16:]),
            Column("state", "state"),
            Column("reason", "reason", format=lambda v: v or DASH),
            Column("detail", "detail", format=lambda v: v or DASH),
            Column("attempts", "tries", justify="right"),
            Column("duration_s", "s", justify="right",
                   format=lambda v: DASH if v is None else f"{v:.2f}"),
            Column("exports", "exports sent/pending"),
            Column("finished_at", "finished (UTC)", format=_utc),
            Column("sandbox", "sandbox", hidden=True),
            Column("export_error", "export error", hidden=True),
        ), [
            {"run_id": r.run_id, "app": r.app_key, "study": r.study_key, "state": r.state,
             "reason": r.reason, "detail": r.detail, "attempts": r.attempts,
             "duration_s": r.duration_s, "exports": f"{r.exports_sent}/{r.exports_pending}",
             "finished_at": r.finished_at, "sandbox": r.sandbox,
             "export_error": r.export_error}
            for r in runs
        ]),
    ]


def apps_summary_view(pipeline: object) -> View | None:
    """The apps' summary for ``medcoop edge status`` (None when apps are off here)."""
    settings = getattr(pipeline, "settings", None)
    if settings is None or not settings.apps.enabled:
        return None
    return runs_views(pipeline.store, limit=1)[0]  # type: ignore[attr-defined]


def apps_status_html(pipeline: object) -> str:
    """The apps' section of the edge's status page: sandbox, runs, failures, exports, and
    the last runs ("" when apps are off). Pseudonymous keys and reason codes only."""
    import html

    settings = getattr(pipeline, "settings", None)
    if settings is None or not settings.apps.enabled:
        return ""
    summary, runs = runs_views(pipeline.store, limit=10)  # type: ignore[attr-defined]
    e = html.escape
    rows = "".join(f"<tr><th scope='row'>{e(str(r['what']))}</th><td>{e(str(r['value']))}"
                   "</td></tr>" for r in summary.records)
    shown = ("run_id", "app", "state", "reason", "attempts", "exports", "finished_at")
    columns = [c for c in runs.columns if c.key in shown]
    head = "".join(f"<th scope='col'>{e(c.header)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(c.text(r))}</td>" for c in columns) + "</tr>"
                   for r in runs.records)
    body = body or f"<tr><td colspan='{len(columns)}'>no runs yet</td></tr>"
    return ("<h2>On-premise apps</h2><table><caption>Sandbox, runs and exports</caption>"
            f"<tbody>{rows}</tbody></table><table><caption>Last runs</caption><thead><tr>"
            f"{head}</tr></thead><tbody>{body}</tbody></table>")


def _utc(value: object) -> str:
    if not isinstance(value, int | float):
        return DASH
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")
