"""Run the demo and tell its story: hospitals connect, data flows, physicists look.

1. The operator provisions the hub: the demo's hospital group (two sites), six peer
   hospitals of other organisations, a medical physicist with a personal access token.
2. Each hospital's edge is configured and enrolled with its one-time code.
3. Every hospital back-loads its archive (the fleet's first studies) through its edge.
4. The group's scanners send today's studies over DICOM: MPPS, images, dose reports.
5. The physicist reads what arrived, alerts, DRL comparisons, utilization and peer
   benchmarks through the hub's API; then the scanners keep sending until Ctrl-C.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from medcoop.demo import apps_monitor_part, deploy_part, ledger_part, store_part
from medcoop.demo.apps_part import run_apps_part
from medcoop.demo.cluster import DemoEdge, DemoHub, Provisioned, SitePlan, free_port
from medcoop.demo.logins import DemoLogin, create_logins
from medcoop.demo.scanners import Delivery, backload_study, send_study
from medcoop.sim import Fleet, SimStudy

__all__ = ["DEMO_SITES", "DemoOptions", "DemoResult", "run_demo"]

GROUP = "Northshore Health"
DEMO_SITES: tuple[SitePlan, ...] = (
    SitePlan("St Elsewhere", GROUP, "general", local=True),
    SitePlan("County General", GROUP, "general", local=True),
    SitePlan("Riverside Hospital", "Riverside NHS Trust", "general", local=False),
    SitePlan("Lakeside Medical Centre", "Lakeside Health", "private", local=False),
    SitePlan("Hilltop University Hospital", "Hilltop University", "university", local=False),
    SitePlan("Harbour View Hospital", "Harbour View Trust", "general", local=False),
    SitePlan("Meadowbank Infirmary", "Meadowbank Health Board", "general", local=False),
    SitePlan("Kingsbridge General", "Kingsbridge Healthcare", "private", local=False),
)
PHYSICIST = "physicist@northshore.example"
_MARKER = ".medcoop-demo"
#: Exam types the demo benchmarks, most common first.
_BENCHMARKS = (("ct_head", "dlp"), ("ct_chest_abdomen_pelvis", "dlp"), ("ct_abdomen_pelvis", "dlp"))
_ALERT_RULES: dict[str, Any] = {
    "rules": [
        {"type": "ct_threshold", "rule_id": "ct-dlp-1000", "metric": "dlp", "threshold": 1000},
        {"type": "ct_threshold", "rule_id": "ct-ctdivol-80", "metric": "ctdivol", "threshold": 80},
        {"type": "fluoro_cumulative", "rule_id": "fluoro-12-weeks"},
        {"type": "outlier", "rule_id": "dlp-above-2x-median", "metric": "dlp", "k": 2.0},
        {"type": "dose_check", "rule_id": "ct-dose-check"},
    ]
}


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs: sizes, ports, and whether it stays up."""

    home: Path
    #: Fleet studies every hospital back-loads first (all eight sites together).
    archive_studies: int = 800
    #: The group's studies sent over DICOM before the report.
    dicom_studies: int = 40
    seed: int = 7
    start: date = field(default_factory=lambda: last_weekday(date.today()))
    hub_port: int = 8000
    dicom_port: int = 11112
    stow_port: int = 8142
    #: Keep sending one study every ``interval_s`` after the report until Ctrl-C.
    live: bool = True
    interval_s: float = 2.0
    completion_timeout_s: float = 3.0


@dataclass(slots=True)
class DemoResult:
    """What the demo did, for its caller (and its tests)."""

    hub_url: str
    provisioned: Provisioned
    edges: dict[str, DemoEdge]
    delivered: dict[str, list[Delivery]] = field(default_factory=dict)
    hub_studies: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    webhook_posts: int = 0
    #: One person per role in the group and in one peer organisation (the dashboard's).
    logins: list[DemoLogin] = field(default_factory=list)
    #: What each later chapter (its own module: store_part...) returns, for --check.
    parts: dict[str, Any] = field(default_factory=dict)
    #: The store app a vendor published and the group's edge installed (deploy_part).
    deploy: Any = None


def _webhook_receiver() -> tuple[ThreadingHTTPServer, list[bytes]]:
    """The group's paging system: a local endpoint that keeps the hub's alert webhooks."""
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(self.rfile.read(length))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: the demo prints its own story."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-webhook").start()
    return server, received


def last_weekday(today: date) -> date:
    """The last Monday-to-Friday before ``today`` (utilization is measured on opening days)."""
    day = today - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    """Run the demo; return after the report, or at Ctrl-C when ``options.live``."""
    home = _fresh_home(options.home)
    hub = DemoHub(home / "hub", free_port(options.hub_port))
    webhook, webhook_posts = _webhook_receiver()
    edges: dict[str, DemoEdge] = {}
    try:
        console.rule("[bold]1. The operator provisions the hub")
        provisioned = hub.provision(list(DEMO_SITES), user_org=GROUP, email=PHYSICIST)
        deploy_part.prepare(hub)  # the store's TUF repository, before edges enroll
        logins = create_logins(hub.db_url, (GROUP, DEMO_SITES[2].org))
        hub.start()
        console.print(f"hub on {hub.url} (SQLite at {hub.folder / 'hub.db'})")
        result = DemoResult(hub.url, provisioned, edges, logins=logins)
        client = httpx.Client(
            base_url=hub.url,
            headers={"Authorization": f"Bearer {provisioned.personal_token}"},
            timeout=60,
        )
        _put_alert_rules(client, webhook.server_address[1])
        console.rule("[bold]2. Each hospital's edge enrolls with its one-time code")
        _start_edges(options, home, hub, provisioned, edges, console)
        fleet = Fleet(
            seed=options.seed,
            sites=[s.name for s in DEMO_SITES],
            start=options.start,
            utc_offsets_min=(0,),
        )
        stream = fleet.studies(10**9)
        console.rule("[bold]3. Hospitals back-load their archives (medcoop edge import)")
        _feed(stream, options.archive_studies, edges, result, console, over_dicom=False)
        console.rule("[bold]4. The group's scanners send today's studies over DICOM")
        _feed(stream, options.dicom_studies, edges, result, console, over_dicom=True)
        _wait_delivered(edges, console)
        console.rule("[bold]5. What arrived where")
        _report_arrivals(client, provisioned, edges, result, console)
        console.rule("[bold]6. What a medical physicist sees")
        _report_analytics(client, provisioned, options, result, console)
        result.deploy = deploy_part.run(hub, edges, GROUP, console)  # store app to an edge
        result.webhook_posts = len(webhook_posts)
        run_apps_part(home, console)  # 7. an app at an edge, its SR back to the PACS
        ledger_part.run(options, hub.folder, client, provisioned, edges, console)  # 8.
        apps_monitor_part.run_at(hub.url, edges, GROUP, console)
        result.parts["store"] = store_part.run_store_part(hub.url, hub.db_url, GROUP, console)
        _print_next_steps(hub, provisioned, edges, options, console)
        _print_dashboard(hub, logins, console)
        if options.live:
            _run_live(stream, options, edges, client, provisioned, console)
        client.close()
        return result
    finally:
        for edge in edges.values():
            edge.stop()
        hub.stop()
        webhook.shutdown()


def _fresh_home(home: Path) -> Path:
    """Start from an empty demo folder (only one the demo itself made is ever removed)."""
    if home.exists() and any(home.iterdir()):
        if not (home / _MARKER).exists():
            raise FileExistsError(f"{home} is not empty and was not made by the demo")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / _MARKER).write_text("made by medcoop demo; removed by the next demo run\n")
    return home


def _put_alert_rules(client: httpx.Client, webhook_port: int) -> None:
    notify = {"webhook": {"url": f"http://127.0.0.1:{webhook_port}/alerts", "secret": "d" * 32}}
    response = client.put(
        "/api/v1/analytics/alert-settings", json={"rules": _ALERT_RULES, "notify": notify}
    )
    response.raise_for_status()


def _start_edges(
    options: DemoOptions,
    home: Path,
    hub: DemoHub,
    provisioned: Provisioned,
    edges: dict[str, DemoEdge],
    console: Console,
) -> None:
    table = Table("hospital", "organisation", "edge", "receives", "config")
    dicom_port, stow_port = options.dicom_port, options.stow_port
    for plan in DEMO_SITES:
        folder = home / "edges" / plan.name.lower().replace(" ", "-")
        ports: tuple[int | None, int | None] = (None, None)
        if plan.local:
            ports = (free_port(dicom_port), free_port(stow_port))
            dicom_port, stow_port = ports[0] + 1, ports[1] + 1  # type: ignore[operator]
        edge = DemoEdge(
            folder,
            plan,
            dicom_port=ports[0],
            stow_port=ports[1],
            completion_timeout_s=options.completion_timeout_s,
        )
        edge.enroll(hub.url, provisioned.enrollment_codes[plan.name])
        edge.start()
        edges[plan.name] = edge
        receives = (
            f"DICOM MEDCOOP@127.0.0.1:{ports[0]}, STOW-RS :{ports[1]}"
            if plan.local
            else "folder import"
        )
        table.add_row(plan.name, plan.org, edge.settings.name, receives, str(edge.config_path))
    console.print(table)


def _progress(console: Console) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _feed(
    stream: Iterator[SimStudy],
    count: int,
    edges: dict[str, DemoEdge],
    result: DemoResult,
    console: Console,
    *,
    over_dicom: bool,
) -> None:
    """Deliver the next studies until ``count`` are done.

    ``over_dicom``: the group's scanners send theirs (counted) while peers back-load;
    otherwise every hospital back-loads (the archives).
    """
    label = "scanners → edges (DICOM)" if over_dicom else "archives → edges"
    with _progress(console) as progress:
        task = progress.add_task(label, total=count)
        done = 0
        while done < count:
            study = next(stream)
            delivery = _deliver(study, edges, over_dicom=over_dicom)
            result.delivered.setdefault(study.truth.site, []).append(delivery)
            if not over_dicom or edges[study.truth.site].site.local:
                done += 1
                progress.advance(task)


def _deliver(study: SimStudy, edges: dict[str, DemoEdge], *, over_dicom: bool = True) -> Delivery:
    edge = edges[study.truth.site]
    node = edge.node
    assert node is not None and node.pipeline is not None
    if over_dicom and edge.site.local:
        return send_study(node.dicom_port, study)
    return backload_study(node.pipeline, study)


def _wait_delivered(edges: dict[str, DemoEdge], console: Console, timeout_s: float = 300) -> None:
    """Wait until every edge has closed its studies and the hub has taken every record."""
    deadline = time.monotonic() + timeout_s
    with console.status("edges closing studies and uploading to the hub…"):
        while time.monotonic() < deadline:
            pending = 0
            for edge in edges.values():
                assert edge.node is not None
                status = edge.node.status()
                pending += status.open_studies + status.backlog.size
            if pending == 0:
                return
            time.sleep(0.5)
    console.print("[yellow]some records are still on their way; the report may lag[/]")


def _report_arrivals(
    client: httpx.Client,
    provisioned: Provisioned,
    edges: dict[str, DemoEdge],
    result: DemoResult,
    console: Console,
) -> None:
    table = Table(
        "hospital",
        "studies sent",
        "objects accepted",
        "quarantined",
        "records to hub",
        "studies at hub (your view)",
        title="Scanners → edges → hub",
    )
    for name, edge in edges.items():
        assert edge.node is not None
        counters = edge.node.status().counters
        deliveries = result.delivered.get(name, [])
        at_hub = "only its own organisation sees them"
        if edge.site.local:
            result.hub_studies[name] = _studies_at_hub(client, provisioned.site_ids[name])
            at_hub = str(result.hub_studies[name])
        table.add_row(
            name,
            str(len(deliveries)),
            str(sum(d.accepted for d in deliveries)),
            str(counters.get("quarantined", 0)),
            str(counters.get("records_sent", 0)),
            at_hub,
        )
    console.print(table)
    _show_one_record(client, provisioned, console)


def _studies_at_hub(client: httpx.Client, site_id: uuid.UUID) -> int:
    """How many of a site's studies the hub holds (the list's total, one item fetched)."""
    page = client.get("/api/v1/studies", params={"site_id": str(site_id), "limit": 1})
    page.raise_for_status()
    return int(page.json()["total"])


def _show_one_record(client: httpx.Client, provisioned: Provisioned, console: Console) -> None:
    """Show what crossed to the hub for one CT study: pseudonyms, facts, doses; no identity."""
    site_id = provisioned.site_ids[DEMO_SITES[0].name]
    page = client.get(
        "/api/v1/studies", params={"site_id": str(site_id), "modality": "CT", "limit": 1}
    ).json()
    if not page["items"]:
        return
    detail = client.get(f"/api/v1/studies/{page['items'][0]['id']}").json()
    shown = {k: detail.get(k) for k in ("study_uid", "modality", "study_at", "procedure_code")}
    shown["totals"] = {k: v for k, v in detail["totals"].items() if v is not None}
    shown["events"] = [
        {k: e.get(k) for k in ("protocol", "ctdivol_mgy", "dlp_mgycm", "kvp") if e.get(k)}
        for e in detail["events"]
    ]
    console.print("One CT study as the hub holds it (keyed pseudonyms and UIDs, no identity):")
    console.print_json(data=shown)


def _report_analytics(
    client: httpx.Client,
    provisioned: Provisioned,
    options: DemoOptions,
    result: DemoResult,
    console: Console,
) -> None:
    from medcoop.hub.presenters import benchmarks_view
    from medcoop.hub.views_cli import show_dose, show_usage
    from medcoop.output import render_table

    site_id = str(provisioned.site_ids[DEMO_SITES[0].name])
    client.post("/api/v1/analytics/alerts/evaluate").raise_for_status()
    result.alerts = _show_alerts(client, console)
    show_dose(client, console, site_id, source_id=None, group_by="site_id")
    show_usage(client, console, site_id, first_day=options.start, last_day=options.start)
    answers = []
    for exam_type, metric in _BENCHMARKS:
        params = {"site_id": site_id, "exam_type": exam_type, "metric": metric}
        response = client.get("/api/v1/analytics/benchmark", params=params)
        response.raise_for_status()
        answers.append(response.json())
    result.benchmarks.extend(answers)
    render_table(benchmarks_view(answers, site=DEMO_SITES[0].name), console)


def _show_alerts(client: httpx.Client, console: Console, shown: int = 6) -> list[dict[str, Any]]:
    """Count the group's open alerts by rule and show the newest page of them."""
    from medcoop.hub.presenters import alerts_by_rule, alerts_view
    from medcoop.output import render_table

    alerts = _alerts_once_notified(client)
    notified = sum(1 for alert in alerts if alert["notified_at"])
    summary = ", ".join(f"{rule} {n}" for rule, n in alerts_by_rule(alerts).items())
    console.print(
        f"{len(alerts)} open alerts ({summary or 'none'}); {notified} sent to the group's webhook",
        highlight=False,
    )
    if alerts:
        title = f"Newest {min(shown, len(alerts))} open alerts (medcoop alerts --page 2 for more)"
        view = alerts_view(alerts[:shown], state="open", total=len(alerts), title=title)
        render_table(view, console)
    return alerts


def _alerts_once_notified(client: httpx.Client, timeout_s: float = 30) -> list[dict[str, Any]]:
    """The open alerts, after the hub's notifier has had time to deliver their notices."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/api/v1/analytics/alerts", params={"state": "open"})
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        pending = [a for a in alerts if not a["notified_at"] and not a["notify_error"]]
        if not pending or time.monotonic() > deadline:
            return alerts
        time.sleep(0.5)


def _print_next_steps(
    hub: DemoHub,
    provisioned: Provisioned,
    edges: dict[str, DemoEdge],
    options: DemoOptions,
    console: Console,
) -> None:
    first_local = next(e for e in edges.values() if e.site.local)
    console.rule("[bold]Try it")
    console.print(f"API and its documentation: {hub.url}/docs   (OpenAPI: {hub.url}/openapi.json)")
    console.print(
        f"physicist {provisioned.user_email}, password {provisioned.user_password}; "
        f"token for the CLI and API:\n  export MEDCOOP_HUB_URL={hub.url} "
        f"MEDCOOP_TOKEN={provisioned.personal_token}"
    )
    site = f"'{DEMO_SITES[0].name}'"
    console.print(f"  medcoop dose --site {site}          (--json or --csv for programs)")
    console.print(f"  medcoop usage --site {site} --from {options.start} --to {options.start}")
    console.print(f"  medcoop benchmark --site {site} --exam ct_head")
    console.print("  medcoop alerts --page 1            medcoop studies --site " + site)
    console.print(f"  medcoop edge status --config {first_local.config_path}")
    console.print(f"everything lives in {options.home} (the next demo run starts afresh)")


def _print_dashboard(hub: DemoHub, logins: list[DemoLogin], console: Console) -> None:
    table = Table("organisation", "role", "e-mail", "password", title="Dashboard logins")
    for login in logins:
        table.add_row(login.organisation, login.role.value, login.email, login.password)
    console.print(table)
    console.print(f"[bold]Dashboard: {hub.url}/[/]  (sign in with any login above)")


def _run_live(
    stream: Iterator[SimStudy],
    options: DemoOptions,
    edges: dict[str, DemoEdge],
    client: httpx.Client,
    provisioned: Provisioned,
    console: Console,
) -> None:
    console.rule("[bold]Live: the group's scanners keep sending (Ctrl-C to stop)")
    local_ids = {n: provisioned.site_ids[n] for n, e in edges.items() if e.site.local}
    try:
        while True:
            study = next(stream)
            delivery = _deliver(study, edges)
            if edges[study.truth.site].site.local:
                at_hub = sum(_studies_at_hub(client, i) for i in local_ids.values())
                console.print(
                    f"{study.truth.true_started_at:%H:%M} {study.device.kind.upper():3} "
                    f"{study.truth.site:15} {delivery.accepted}/{delivery.sent} messages accepted; "
                    f"the group's studies at the hub: {at_hub}",
                    highlight=False,
                )
                time.sleep(options.interval_s)
    except KeyboardInterrupt:
        console.print("stopping: edges flush their outboxes, then the hub stops")
