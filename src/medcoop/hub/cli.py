"""``medcoop hub``: serve the hub, migrate its database, administer tenants and people.

Heavy imports (SQLAlchemy, FastAPI, uvicorn) happen inside the commands so that
``medcoop --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.orm import Session

    from medcoop.hub.settings import HubSettings

app = typer.Typer(
    help="The multi-tenant hub: serve, migrate, create organisations, users, sites and tokens.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

DB_HELP = (
    "Database URL: postgresql://user@host/db for production; default SQLite at "
    "$MEDCOOP_HOME/hub/hub.db (MEDCOOP_HOME defaults to ~/.local/share/medcoop)."
)
DbOption = typer.Option(None, "--db", envvar="MEDCOOP_HUB_DB", help=DB_HELP)


def _settings(db: str | None, **overrides: Any) -> HubSettings:
    from medcoop.hub.settings import HubSettings

    return HubSettings(database_url=db, **overrides)


def _session(settings: HubSettings) -> Session:
    from medcoop.hub.db import migrate
    from medcoop.hub.db.engine import make_engine, make_session_factory
    from medcoop.hub.db.tenancy import ALL_TENANTS, scope_session

    engine = make_engine(settings)
    migrate.upgrade(engine)
    return scope_session(make_session_factory(engine)(), ALL_TENANTS)


def _fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


def _org_id(session: Session, org: str) -> uuid.UUID:
    import uuid

    from sqlalchemy import select

    from medcoop.hub.db.models import Organisation

    query = select(Organisation).where(Organisation.name == org)
    with contextlib.suppress(ValueError):
        query = select(Organisation).where(Organisation.id == uuid.UUID(org))
    found = session.scalar(query)
    if found is None:
        _fail(f"no organisation named {org!r}")
    return found.id


@app.command()
def migrate(
    db: str | None = DbOption,
    show_head: bool = typer.Option(False, "--show-head", help="Print the newest revision only."),
) -> None:
    """Migrate the hub's database to the newest schema (also done on ``serve``)."""
    from medcoop.hub.db import migrate as migrations
    from medcoop.hub.db.engine import make_engine

    if show_head:
        console.print(migrations.head_revision())
        return
    engine = make_engine(_settings(db))
    migrations.upgrade(engine)
    console.print(f"database at revision {migrations.current_revision(engine)}")


@app.command()
def serve(
    db: str | None = DbOption,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="TCP port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (share the database)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    worker_healthcheck_s: int = typer.Option(
        30, min=1, help="Seconds a worker may take to answer the supervisor's health ping."
    ),
    background: bool = typer.Option(
        True,
        "--background/--no-background",
        help="Run the background jobs in the web workers (off when `medcoop hub worker` runs).",
    ),
    ledger_witness: list[str] = typer.Option(
        [], "--ledger-witness", help="A witness's verifier key (repeat for each witness)."
    ),
    ledger_key: str | None = typer.Option(
        None, "--ledger-key", help="The log's signing key file (default: under $MEDCOOP_HOME)."
    ),
    store_tuf_dir: str | None = typer.Option(
        None, "--store-tuf-dir", help="The store's TUF repository (default $MEDCOOP_HOME/hub/tuf)."
    ),
) -> None:
    """Serve the hub's HTTP API (uvicorn), migrating the database once first."""
    import uvicorn

    from medcoop.hub.db import migrate as migrations
    from medcoop.hub.db.engine import make_engine

    settings = _settings(
        db,
        ledger_witnesses=tuple(ledger_witness),
        ledger_key_path=ledger_key,
        store_tuf_dir=store_tuf_dir,
    )
    engine = make_engine(settings)
    migrations.upgrade(engine)
    engine.dispose()
    worker_settings = settings.model_copy(
        update={"migrate_on_start": False, "worker_in_process": background}
    )
    os.environ.update(worker_settings.to_env())
    console.print(f"medcoop hub on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "medcoop.hub.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        # uvicorn's default (5 s) restarts busy workers on a loaded 2-core box mid-request.
        timeout_worker_healthcheck=worker_healthcheck_s,
    )


@app.command()
def worker(
    db: str | None = DbOption,
    once: bool = typer.Option(False, "--once", help="One pass of every job, then exit."),
    notifier: bool = typer.Option(True, "--notifier/--no-notifier", help="Deliver notices."),
    compaction_interval_s: float = typer.Option(
        60.0, min=0, help="Seconds between compactions of stale pooled blocks (0: none)."
    ),
) -> None:
    """Run the hub's background jobs (alert notices, summary compaction) until stopped.

    Run any number beside `medcoop hub serve --no-background`: every job claims its work.
    """
    import signal
    import threading

    from medcoop.hub.db import migrate as migrations
    from medcoop.hub.db.engine import make_engine, make_session_factory
    from medcoop.hub.worker import Worker, hub_jobs

    settings = _settings(
        db, notifier_enabled=notifier, compaction_interval_s=compaction_interval_s
    )
    engine = make_engine(settings)
    migrations.upgrade(engine)
    runner = Worker(hub_jobs(settings, make_session_factory(engine)))
    names = ", ".join(job.name for job in runner.jobs) or "no jobs"
    if once:
        done = runner.run_once()
        console.print(", ".join(f"{name}: {n}" for name, n in done.items()) or names)
        engine.dispose()
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"medcoop hub worker: {names} (Ctrl-C stops)")
    runner.run_until(stop)
    engine.dispose()


@app.command("create-org")
def create_org(
    name: str = typer.Argument(..., help="Organisation name (unique)."),
    kind: str = typer.Option("hospital", help="hospital, vendor or platform."),
    country: str | None = typer.Option(None, help="ISO 3166-1 alpha-2 country code."),
    db: str | None = DbOption,
) -> None:
    """Create an organisation (a tenant)."""
    from medcoop.hub.errors import HubError
    from medcoop.hub.services import accounts

    with _session(_settings(db)) as session:
        try:
            org = accounts.create_organisation(session, name, kind=kind, country=country)
        except (HubError, ValueError) as exc:
            _fail(str(exc))
        session.commit()
        console.print(f"organisation {org.name!r} created: id {org.id}")


@app.command("create-user")
def create_user(
    email: str = typer.Argument(..., help="The person's e-mail address (their login)."),
    org: str = typer.Option(..., help="Organisation name or id."),
    role: str = typer.Option(..., help="platform_admin, org_admin, medical_physicist, ..."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="Login password."
    ),
    db: str | None = DbOption,
) -> None:
    """Create a user (or add an existing one) with a role in an organisation."""
    from sqlalchemy import select

    from medcoop.hub.db.models import Role, User
    from medcoop.hub.errors import HubError
    from medcoop.hub.services import accounts

    if role not in Role._value2member_map_:
        _fail(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}")
    with _session(_settings(db)) as session:
        org_id = _org_id(session, org)
        user = session.scalar(select(User).where(User.email == accounts.normalise_email(email)))
        try:
            if user is None:
                user = accounts.create_user(session, email, password=password)
            accounts.add_membership(session, org_id, user.id, role)  # type: ignore[arg-type]
        except HubError as exc:
            _fail(str(exc))
        session.commit()
        console.print(f"user {user.email} is {role} in {org}")


@app.command("create-site")
def create_site(
    name: str = typer.Argument(..., help="Site (hospital) name, unique in its organisation."),
    org: str = typer.Option(..., help="Organisation name or id."),
    country: str | None = typer.Option(None, help="ISO 3166-1 alpha-2 country code."),
    site_type: str | None = typer.Option(None, help="university, general, private, ..."),
    db: str | None = DbOption,
) -> None:
    """Create a site and print its one-time enrollment code for ``medcoop edge enroll``."""
    from medcoop.hub.errors import HubError
    from medcoop.hub.services import accounts

    settings = _settings(db)
    with _session(settings) as session:
        org_id = _org_id(session, org)
        try:
            site = accounts.create_site(
                session,
                org_id,
                name,
                country=country,
                site_type=site_type,  # type: ignore[arg-type]
            )
            code = accounts.issue_enrollment_code(
                session,
                org_id,
                site.id,
                ttl_s=settings.enrollment_code_ttl_s,  # type: ignore[arg-type]
            )
        except HubError as exc:
            _fail(str(exc))
        session.commit()
    days = settings.enrollment_code_ttl_s // 86400
    console.print(f"site {name!r} created: id {site.id}")
    console.print(f"one-time enrollment code (valid {days} days): [bold]{code}[/bold]")
    console.print(f"on the edge: medcoop edge enroll {code} --hub <hub URL>")


@app.command("create-token")
def create_token(
    email: str = typer.Argument(..., help="The user the token acts for."),
    org: str | None = typer.Option(None, help="Organisation (default: the user's first)."),
    name: str = typer.Option("cli", help="A label to recognise the token by."),
    ttl_days: int = typer.Option(90, min=1, max=365, help="Days until the token expires."),
    db: str | None = DbOption,
) -> None:
    """Issue a personal access token (``mcp_...``) for a user; shown once."""
    from sqlalchemy import select

    from medcoop.hub.db.models import Membership, TokenKind, User
    from medcoop.hub.services import accounts

    with _session(_settings(db)) as session:
        user = session.scalar(select(User).where(User.email == accounts.normalise_email(email)))
        if user is None:
            _fail(f"no user {email}")
        query = select(Membership.org_id).where(Membership.user_id == user.id)
        if org is not None:
            query = query.where(Membership.org_id == _org_id(session, org))
        org_id = session.scalar(query)
        if org_id is None:
            _fail("the user belongs to no such organisation")
        _token, secret = accounts.issue_token(
            session,
            TokenKind.PERSONAL,
            org_id,  # type: ignore[arg-type]
            user_id=user.id,  # type: ignore[union-attr]
            name=name,
            ttl_s=ttl_days * 86400,
        )
        session.commit()
    console.print(secret, soft_wrap=True)


@app.command("rebuild-summaries")
def rebuild_summaries(
    site: list[str] = typer.Option(None, "--site", help="Only this site id (repeatable)."),
    db: str | None = DbOption,
) -> None:
    """Recompute the peer-benchmark dose summaries from the stored studies.

    Run once after upgrading to the release that added them (the migration creates the
    table empty), or after a release that changes the exam types. Safe while ingest runs:
    each site is rebuilt in its own transaction under a lock ingest respects.
    """
    import uuid

    from medcoop.hub.services.analytics import summaries

    try:
        site_ids = [uuid.UUID(s) for s in site] if site else None
    except ValueError:
        _fail("--site takes a site id (a UUID)")
    with _session(_settings(db)) as session:
        result = summaries.rebuild(session, site_ids=site_ids)  # type: ignore[arg-type]
    console.print(
        f"rebuilt {result.sites} site(s): {result.studies} studies, {result.cells} summary cells"
    )
