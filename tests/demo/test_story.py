"""``medcoop demo`` end to end: a real hub process, real edges, scanners over DICOM.

One small run (a few hundred archived studies, a handful over DICOM) is shared by the tests
below; each checks one promise the demo makes to someone watching it.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from medcoop.cli import app
from medcoop.demo.cluster import edit_config
from medcoop.demo.story import DEMO_SITES, DemoOptions, DemoResult, last_weekday, run_demo
from medcoop.sim import Fleet
from tests.common.privacy import leaked_values

pytestmark = pytest.mark.slow

ARCHIVE = 320
DICOM_STUDIES = 8


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoOptions, DemoResult, str]:
    options = DemoOptions(
        home=tmp_path_factory.mktemp("demo") / "home",
        archive_studies=ARCHIVE,
        dicom_studies=DICOM_STUDIES,
        hub_port=0,
        dicom_port=0,
        stow_port=0,
        live=False,
    )
    out = io.StringIO()
    result = run_demo(options, Console(file=out, width=200))
    return options, result, out.getvalue()


def test_every_study_sent_arrives_at_the_hub(demo: tuple[DemoOptions, DemoResult, str]) -> None:
    _, result, _ = demo
    local = [s.name for s in DEMO_SITES if s.local]
    for site in DEMO_SITES:
        deliveries = result.delivered[site.name]
        assert deliveries, f"{site.name} got no studies"
        assert all(d.ok for d in deliveries), f"{site.name}: a message was refused"
    for name in local:
        # one record per study: the hub holds exactly the studies the scanners sent
        assert result.hub_studies[name] == len(result.delivered[name])
    assert sum(len(result.delivered[n]) for n in local) >= DICOM_STUDIES
    assert sum(len(v) for v in result.delivered.values()) >= ARCHIVE + DICOM_STUDIES


def test_edges_kept_nothing_back(demo: tuple[DemoOptions, DemoResult, str]) -> None:
    from medcoop.edge.config import load_settings
    from medcoop.edge.node import open_pipeline
    from medcoop.edge.status import read_status

    _, result, _ = demo
    for name, edge in result.edges.items():
        # what `medcoop edge status --config ...` reads, after the demo stopped the edge
        store, pipeline = open_pipeline(load_settings(edge.config_path))
        try:
            status = read_status(pipeline)
        finally:
            store.close()
        assert status.counters.get("quarantined", 0) == 0, name
        assert status.counters["records_sent"] >= len(result.delivered[name]), name
        assert (status.backlog.size, status.open_studies, status.upload_error) == (0, 0, None)


def test_peer_benchmark_answers_without_exposing_a_peer(
    demo: tuple[DemoOptions, DemoResult, str],
) -> None:
    _, result, _ = demo
    head = next(b for b in result.benchmarks if b["exam_type"] == "ct_head")
    assert head["peers"] is not None and head["peers"]["n_sites"] >= 5
    assert head["peers"]["n_studies"] >= 10
    answers = json.dumps(result.benchmarks)
    for site in DEMO_SITES[1:]:
        assert str(result.provisioned.site_ids[site.name]) not in answers


def test_alerts_are_raised_and_sent_to_the_webhook(
    demo: tuple[DemoOptions, DemoResult, str],
) -> None:
    _, result, output = demo
    assert result.alerts, "the fleet's high-dose studies should raise alerts"
    notified = [a for a in result.alerts if a["notified_at"]]
    assert notified and result.webhook_posts >= len(notified)
    assert f"{len(result.alerts)} open alerts" in output


def test_nothing_identifying_reaches_the_hub(demo: tuple[DemoOptions, DemoResult, str]) -> None:
    options, result, _ = demo
    # the same fleet, far enough to cover every study the demo sent
    consumed = sum(len(v) for v in result.delivered.values())
    fleet = Fleet(
        seed=options.seed,
        sites=[s.name for s in DEMO_SITES],
        start=options.start,
        utc_offsets_min=(0,),
    )
    identifying = set()
    for study in fleet.studies(consumed):
        identifying |= study.truth.patient.identifying_values()
        identifying.add(study.truth.accession_number)
    stored = b"".join(p.read_bytes() for p in (options.home / "hub").glob("hub.db*"))
    assert leaked_values(identifying, stored) == []


def test_the_story_tells_where_to_go_next(demo: tuple[DemoOptions, DemoResult, str]) -> None:
    _, result, output = demo
    for heading in ("What arrived where", "What a medical physicist sees", "Try it"):
        assert heading in output
    assert f"{result.hub_url}/docs" in output
    assert "medcoop dose --site" in output
    # devices and sites by name, not by their keys alone
    assert re.search(r"│ CT \S.* \([0-9a-f]{12}\)", output)
    assert "DRL comparison, St Elsewhere" in output


def test_the_ledger_part_keeps_its_promises(demo: tuple[DemoOptions, DemoResult, str]) -> None:
    from medcoop.demo import ledger_part

    options, _, out = demo
    found = [check() for check in ledger_part.checks(options)]
    assert all(r.ok for r in found), [(r.name, r.detail) for r in found]
    assert "witness st-elsewhere.example/witness checked the log and co-signed" in out


def test_demo_is_a_command() -> None:
    outcome = CliRunner().invoke(app, ["demo", "--help"])
    assert outcome.exit_code == 0
    assert "--once" in outcome.stdout


def test_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("not the demo's")
    outcome = CliRunner().invoke(app, ["demo", "--home", str(tmp_path), "--once"])
    assert outcome.exit_code == 2
    assert (tmp_path / "precious.txt").exists()


def test_config_edits_stay_in_their_section() -> None:
    text = "name = 'a'\n[dicom]\nport = 1\n[stow]\nport = 2\n"
    edited = edit_config(text, "stow", "port", "9")
    assert edited == "name = 'a'\n[dicom]\nport = 1\n[stow]\nport = 9\n"
    with pytest.raises(KeyError):
        edit_config(text, "dicom", "missing", "1")


def test_last_weekday_skips_the_weekend() -> None:
    from datetime import date

    assert last_weekday(date(2026, 11, 30)) == date(2026, 11, 27)  # Monday -> Friday
    assert last_weekday(date(2026, 12, 2)) == date(2026, 12, 1)


def test_demo_check_verifies_the_story(demo: tuple[DemoOptions, DemoResult, str]) -> None:
    from medcoop.demo import check

    options, result, output = demo
    assert "Dashboard: http://" in output and len(result.logins) == 12
    assert {login.organisation for login in result.logins} == {DEMO_SITES[0].org, DEMO_SITES[2].org}
    found = [
        check._studies_once(result),
        check._alerts(result),
        check._k_anonymous(result),
        check._no_identifiers(options, result),
        check._pages(options, result.logins),
    ]
    assert all(f.ok for f in found), [f for f in found if not f.ok]
    # the page check is not vacuous: 12 people × 8 pages, and 404s across organisations
    assert "page answers for 12 people in 2 organisations" in found[-1].detail
    # and it fails when a promise is broken
    broken = DemoResult(result.hub_url, result.provisioned, result.edges, alerts=[])
    assert not check._alerts(broken).ok


def test_a_vendor_publishes_and_the_group_edge_installs_it(
    demo: tuple[DemoOptions, DemoResult, str],
) -> None:
    from medcoop.demo import deploy_part

    _options, result, story = demo
    assert "signed and published lumen.image-count 1.0.0" in story
    _name, ok, detail = deploy_part.check(result.deploy)
    assert ok, detail
    assert "matches the vendor-signed target" in detail


def test_an_app_at_an_edge_returns_its_sr_to_the_pacs(
    demo: tuple[DemoOptions, DemoResult, str],
) -> None:
    from medcoop.demo.apps_part import check_apps_part

    options, _, story = demo
    _, ok, detail = check_apps_part(options.home)
    assert ok, detail
    assert "7. An app at the hospital" in story
    assert "runs succeeded" in story
