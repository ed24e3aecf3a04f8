"""``medcoop demo --check``: the demo's story, headless, verified end to end.

Runs :func:`medcoop.demo.story.run_demo` small and finite in a temporary folder on the
embedded defaults, then checks what a person watching the demo is promised:

- every study sent is at the hub exactly once (per local site: the hub's count equals
  the studies delivered, every message accepted);
- alerts were raised and delivered to the group's webhook;
- every peer benchmark answered is k-anonymous (≥ 5 peer sites, ≥ 10 studies) or
  suppressed;
- no identifying value the fleet planted is in the hub's database files;
- every dashboard page answers 200 to the roles holding its permission and a 403 page
  to the others (for one person per role in two organisations, signed in through the
  sign-in form), and another organisation's study is a 404 page.

Each check prints one line; the exit status is 0 when all pass, else 1.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from medcoop.demo import apps_monitor_part, deploy_part, ledger_part, store_part
from medcoop.demo.apps_part import check_apps_part
from medcoop.demo.logins import DemoLogin
from medcoop.demo.story import DEMO_SITES, DemoOptions, DemoResult, run_demo

__all__ = ["CheckResult", "run_check"]

ARCHIVE = 320
DICOM_STUDIES = 8
K_SITES, K_STUDIES = 5, 10


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One verified promise."""

    name: str
    ok: bool
    detail: str


def _studies_once(result: DemoResult) -> CheckResult:
    local = [s.name for s in DEMO_SITES if s.local]
    refused = [n for n, ds in result.delivered.items() if not all(d.ok for d in ds)]
    counts = {n: (result.hub_studies.get(n), len(result.delivered.get(n, []))) for n in local}
    ok = not refused and all(at == sent and sent > 0 for at, sent in counts.values())
    shown = ", ".join(f"{n}: {at} at hub / {sent} sent" for n, (at, sent) in counts.items())
    return CheckResult("every study sent is at the hub exactly once", ok, shown)


def _alerts(result: DemoResult) -> CheckResult:
    notified = [a for a in result.alerts if a.get("notified_at")]
    ok = bool(result.alerts) and len(notified) == len(result.alerts) and result.webhook_posts > 0
    detail = f"{len(result.alerts)} raised, {len(notified)} delivered, {result.webhook_posts} posts"
    return CheckResult("alerts raised and delivered", ok, detail)


def _k_anonymous(result: DemoResult) -> CheckResult:
    answered = [b for b in result.benchmarks if b.get("peers")]
    safe = all(
        b["peers"]["n_sites"] >= K_SITES and b["peers"]["n_studies"] >= K_STUDIES for b in answered
    )
    leaked_fields = [b for b in result.benchmarks if {"min", "max", "sites"} & set(b)]
    ok = bool(result.benchmarks) and safe and not leaked_fields
    suppressed = len(result.benchmarks) - len(answered)
    return CheckResult(
        "peer benchmarks k-anonymous",
        ok,
        f"{len(answered)} answered (≥ {K_SITES} sites, ≥ {K_STUDIES} studies), "
        f"{suppressed} suppressed",
    )


def _no_identifiers(options: DemoOptions, result: DemoResult) -> CheckResult:
    from medcoop.sim import Fleet
    from medcoop.sim.privacy import leaked_values

    consumed = sum(len(v) for v in result.delivered.values())
    fleet = Fleet(
        seed=options.seed,
        sites=[s.name for s in DEMO_SITES],
        start=options.start,
        utc_offsets_min=(0,),
    )
    identifying: set[str] = set()
    for study in fleet.studies(consumed):
        identifying |= study.truth.patient.identifying_values()
        identifying.add(study.truth.accession_number)
    stored = b"".join(p.read_bytes() for p in (options.home / "hub").glob("hub.db*"))
    found = leaked_values(identifying, stored)
    detail = f"{len(identifying)} planted values searched in {len(stored):,} bytes"
    return CheckResult("no identifier in the hub's database", not found, detail)


def _pages(options: DemoOptions, logins: list[DemoLogin]) -> CheckResult:
    with warnings.catch_warnings():  # Starlette's note about its httpx client, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient
    from sqlalchemy import select

    from medcoop.hub.app import create_app
    from medcoop.hub.db.models import Study
    from medcoop.hub.db.tenancy import scope_session
    from medcoop.hub.services.accounts import ROLE_PERMISSIONS
    from medcoop.hub.settings import HubSettings
    from medcoop.hub.web.routing import NAV

    db_url = f"sqlite:///{options.home / 'hub' / 'hub.db'}"
    app = create_app(HubSettings(database_url=db_url, notifier_enabled=False))
    wrong: list[str] = []
    checked = 0
    orgs = {login.org_id for login in logins}
    studies = {}
    with app.state.session_factory() as session:
        for org_id in orgs:
            scope_session(session, org_id)
            studies[org_id] = session.scalar(select(Study.id).limit(1))
            session.rollback()
    try:
        for login in logins:
            client = TestClient(app, base_url="http://demo.test", follow_redirects=False)
            answer = client.post("/login", data={"email": login.email, "password": login.password})
            if answer.status_code != 303:
                wrong.append(f"{login.email}: sign-in {answer.status_code}")
                continue
            held = ROLE_PERMISSIONS[login.role]
            for path, _label, needs in NAV:
                expected = 200 if needs in held else 403
                got = client.get(path).status_code
                checked += 1
                if got != expected:
                    wrong.append(f"{login.role.value} {path}: {got}, not {expected}")
            for org_id, study_id in studies.items():
                if org_id == login.org_id or study_id is None or not _reads(held):
                    continue
                got = client.get(f"/dose/studies/{study_id}").status_code
                checked += 1
                if got != 404:
                    wrong.append(f"{login.role.value}: another organisation's study {got}")
    finally:
        app.state.engine.dispose()
    detail = f"{checked} page answers for {len(logins)} people in {len(orgs)} organisations"
    return CheckResult(
        "dashboard pages: 200 for the right role, 403/404 for the wrong one",
        not wrong,
        "; ".join(wrong[:5]) or detail,
    )


def _reads(held: frozenset[object]) -> bool:
    from medcoop.hub.services.accounts import Permission

    return Permission.READ_STUDIES in held


def run_check(console: Console, *, keep: Path | None = None) -> bool:
    """Run the story headless and print each verified promise; return whether all hold."""
    with tempfile.TemporaryDirectory(prefix="medcoop-demo-check-") as tmp:
        options = DemoOptions(
            home=(keep or Path(tmp)) / "demo",
            archive_studies=ARCHIVE,
            dicom_studies=DICOM_STUDIES,
            hub_port=0,
            dicom_port=0,
            stow_port=0,
            live=False,
        )
        story = io.StringIO()
        console.print(f"running the demo story headless in {options.home} …")
        result = run_demo(options, Console(file=story, width=160))
        checks: list[Callable[[], CheckResult]] = [
            lambda: _studies_once(result),
            lambda: _alerts(result),
            lambda: _k_anonymous(result),
            lambda: _no_identifiers(options, result),
            lambda: _pages(options, result.logins),
            lambda: CheckResult(*store_part.check(result.parts.get("store"))),
            lambda: CheckResult(*deploy_part.check(result.deploy)),
            *ledger_part.checks(options),
            lambda: apps_monitor_part.check(options.home, result.logins),
            lambda: CheckResult(*check_apps_part(options.home)),
        ]
        results = [check() for check in checks]
    for found in results:
        mark = "[green]ok  [/]" if found.ok else "[red]FAIL[/]"
        console.print(f"{mark} {found.name}: {found.detail}", highlight=False)
    passed = all(r.ok for r in results)
    console.print("all checks passed" if passed else "[red]some checks failed[/]")
    return passed
