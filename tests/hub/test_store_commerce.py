"""Store commerce on a real hub database: trials, quotes, orders, services, metering.

Every flow is checked for its audit trail and its notices to both parties; entitlement
limits (a trial's study cap and its expiry) stop new runs.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from medcoop.hub.app import create_app
from medcoop.hub.db.store_models import StoreEntitlement, StoreNotice, StoreTrial
from medcoop.hub.errors import ConflictError, NotFoundError, PermissionDeniedError
from medcoop.hub.services.store import commerce, listings, metering
from medcoop.hub.services.store.errors import RunRefusedError, TransitionError
from medcoop.hub.services.store.journal import Actor, events_of
from medcoop.hub.settings import HubSettings
from tests.hub.conftest import Tenant, make_tenant
from tests.hub.store_world import NOW, app_manifest, catalogue, make_vendor, tenant_session


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    path = Path(tmp_path_factory.mktemp("commerce")) / "hub.db"
    application = create_app(HubSettings(database_url=f"sqlite:///{path}"))
    yield application
    application.state.engine.dispose()


World = tuple[Tenant, Tenant, commerce.ListingTerms]


def _world(hub: FastAPI, approval: str = "automatic") -> World:
    tag = uuid.uuid4().hex[:6]
    vendor = make_vendor(hub, f"Vendor {tag}", f"v{tag}")
    hospital = make_tenant(hub, f"Hospital {tag}")
    with tenant_session(hub, vendor.org_id) as s:
        listings.publish_app(
            s,
            app_manifest(
                f"v{tag}",
                "triage",
                offers={
                    "trial": {"days": 14, "study_cap": 3, "approval": approval},
                    "per_study": {"amount": "2.00"},
                    "quote_on_request": True,
                    "subscriptions": [
                        {"name": "yearly", "period": "year", "price": {"amount": "5000"}}
                    ],
                },
            ),
            now=NOW,
        )
    with catalogue(hub, hospital.org_id) as s:
        terms = commerce.ListingTerms.of(listings.get_listing(s, f"v{tag}.triage"))
    return vendor, hospital, terms


def _actor(tenant: Tenant) -> Actor:
    return Actor(tenant.org_id, None)


def test_trial_auto_approved_stops_at_its_cap(hub: FastAPI) -> None:
    vendor, hospital, terms = _world(hub)
    with tenant_session(hub, hospital.org_id) as s:
        trial = commerce.request_trial(s, terms, _actor(hospital), now=NOW)
        assert trial.state == "approved"
        trial_id = trial.id
    with tenant_session(hub, hospital.org_id) as s:
        allowed = metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, now=NOW
        )
        assert allowed.allowed and allowed.kind == "trial" and allowed.studies_left == 3
        metering.record_usage(
            s, org_id=hospital.org_id, listing_key=terms.key, run_key="r1", studies=2, now=NOW
        )
        # the same run twice is metered once
        again = metering.record_usage(
            s, org_id=hospital.org_id, listing_key=terms.key, run_key="r1", studies=2, now=NOW
        )
        assert again.replayed
        metering.record_usage(
            s, org_id=hospital.org_id, listing_key=terms.key, run_key="r2", studies=1, now=NOW
        )
        decision = metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, now=NOW
        )
        assert not decision.allowed
        assert "expired" in decision.reason
        with pytest.raises(RunRefusedError):
            metering.record_usage(
                s, org_id=hospital.org_id, listing_key=terms.key, run_key="r3", now=NOW
            )
    with tenant_session(hub, hospital.org_id) as s:
        trial = s.scalar(select(StoreTrial).where(StoreTrial.id == trial_id))
        assert trial is not None and trial.state == "expired"
        trail = [(e.action, e.to_state, e.actor_org_id) for e in events_of(s, trial_id)]
        assert trail == [
            ("create", "requested", hospital.org_id),
            ("approve", "approved", None),
            ("expire", "expired", None),
        ]
        assert events_of(s, trial_id)[-1].detail == {"reason": "study cap of 3 reached"}
        notices = s.scalars(select(StoreNotice).where(StoreNotice.subject_id == trial_id)).all()
        assert {n.recipient_org_id for n in notices} == {hospital.org_id, vendor.org_id}
        assert len(notices) == 6


def test_trial_by_vendor_approval_expires_in_time(hub: FastAPI) -> None:
    vendor, hospital, terms = _world(hub, approval="vendor")
    other = make_tenant(hub, f"Other {uuid.uuid4().hex[:6]}")
    with tenant_session(hub, hospital.org_id) as s:
        trial = commerce.request_trial(s, terms, _actor(hospital), now=NOW)
        assert trial.state == "requested"
        trial_id = trial.id
        assert not metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, now=NOW
        ).allowed
        with pytest.raises(ConflictError, match="already requested"):
            commerce.request_trial(s, terms, _actor(hospital), now=NOW)
    with tenant_session(hub, hospital.org_id) as s, pytest.raises(PermissionDeniedError):
        commerce.decide_trial(s, trial_id, _actor(hospital), approve=True, now=NOW)
    with tenant_session(hub, other.org_id) as s, pytest.raises(NotFoundError):
        commerce.decide_trial(s, trial_id, _actor(other), approve=True, now=NOW)
    with tenant_session(hub, vendor.org_id) as s:
        commerce.decide_trial(s, trial_id, _actor(vendor), approve=True, now=NOW)
    with tenant_session(hub, vendor.org_id) as s, pytest.raises(TransitionError):
        commerce.decide_trial(s, trial_id, _actor(vendor), approve=False, now=NOW)
    later = NOW + timedelta(days=14, seconds=1)
    with tenant_session(hub, hospital.org_id) as s:
        assert metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, now=NOW + timedelta(days=13)
        ).allowed
        decision = metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, now=later
        )
        assert not decision.allowed and decision.reason == "trial entitlement expired"
        assert commerce.expire_due(s, later) == 1
        trial = s.scalar(select(StoreTrial).where(StoreTrial.id == trial_id))
        assert trial is not None and trial.state == "expired"
        with pytest.raises(ConflictError, match="has had its trial"):
            commerce.request_trial(s, terms, _actor(hospital), now=later)


def test_quote_becomes_an_order_with_an_entitlement_per_site(hub: FastAPI) -> None:
    vendor, hospital, terms = _world(hub)
    site_b = uuid.uuid4()
    with tenant_session(hub, hospital.org_id) as s:
        quote = commerce.request_quote(
            s,
            terms,
            _actor(hospital),
            studies_per_year=20000,
            site_ids=[hospital.site_id, site_b],
            questions="PACS integration?",
            now=NOW,
        )
        quote_id = quote.id
        with pytest.raises(PermissionDeniedError):
            commerce.answer_quote(
                s,
                quote_id,
                _actor(hospital),
                price=Decimal(1),
                currency="EUR",
                terms="",
                valid_until=NOW + timedelta(1),
                now=NOW,
            )
    with tenant_session(hub, vendor.org_id) as s:
        commerce.answer_quote(
            s,
            quote_id,
            _actor(vendor),
            price=Decimal("18000.00"),
            currency="EUR",
            terms="Annual, 2 sites",
            valid_until=NOW + timedelta(days=30),
            now=NOW,
        )
    with tenant_session(hub, hospital.org_id) as s:
        order = commerce.accept_quote(
            s, quote_id, _actor(hospital), listing_key=terms.key, now=NOW + timedelta(days=1)
        )
        assert order.pricing == "quote" and order.price_amount == "18000.00"
        order_id = order.id
    with tenant_session(hub, hospital.org_id) as s:
        sites = {
            e.site_id
            for e in s.scalars(
                select(StoreEntitlement).where(StoreEntitlement.order_id == order_id)
            )
        }
        assert sites == {hospital.site_id, site_b}
        assert metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, site_id=site_b, now=NOW
        ).allowed
        assert not metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, site_id=uuid.uuid4(), now=NOW
        ).allowed
        commerce.cancel_order(s, order_id, _actor(hospital), now=NOW + timedelta(days=2))
        assert not metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, site_id=site_b, now=NOW
        ).allowed


def test_an_unanswered_quote_expires(hub: FastAPI) -> None:
    vendor, hospital, terms = _world(hub)
    with tenant_session(hub, hospital.org_id) as s:
        quote_id = commerce.request_quote(s, terms, _actor(hospital), now=NOW).id
    with tenant_session(hub, vendor.org_id) as s:
        commerce.answer_quote(
            s,
            quote_id,
            _actor(vendor),
            price=Decimal(10),
            currency="EUR",
            terms="",
            valid_until=NOW + timedelta(days=7),
            now=NOW,
        )
    with tenant_session(hub, hospital.org_id) as s, pytest.raises(TransitionError):
        commerce.accept_quote(
            s, quote_id, _actor(hospital), listing_key=terms.key, now=NOW + timedelta(days=8)
        )
    with tenant_session(hub, hospital.org_id) as s:
        assert [e.to_state for e in events_of(s, quote_id)] == ["requested", "quoted", "expired"]


def test_an_order_converts_the_trial(hub: FastAPI) -> None:
    _vendor, hospital, terms = _world(hub)
    with tenant_session(hub, hospital.org_id) as s:
        trial_id = commerce.request_trial(s, terms, _actor(hospital), now=NOW).id
        commerce.place_order(
            s, terms, _actor(hospital), pricing="subscription", plan="yearly", now=NOW
        )
        with pytest.raises(ConflictError, match="no subscription plan"):
            commerce.place_order(
                s, terms, _actor(hospital), pricing="subscription", plan="monthly", now=NOW
            )
        with pytest.raises(ConflictError, match="not offered free"):
            commerce.place_order(s, terms, _actor(hospital), pricing="free", now=NOW)
    with tenant_session(hub, hospital.org_id) as s:
        trial = s.scalar(select(StoreTrial).where(StoreTrial.id == trial_id))
        assert trial is not None and trial.state == "converted"
        kinds = {(e.kind, e.state) for e in s.scalars(select(StoreEntitlement))}
        assert kinds == {("trial", "converted"), ("subscription", "active")}
        decision = metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, now=NOW + timedelta(days=300)
        )
        assert decision.kind == "subscription"
        assert not metering.entitlement_allows_run(
            s, org_id=hospital.org_id, listing_key=terms.key, now=NOW + timedelta(days=366)
        ).allowed


def test_service_path(hub: FastAPI) -> None:
    vendor, hospital, _terms = _world(hub)
    with tenant_session(hub, vendor.org_id) as s:
        slug = listings.approved_vendor(s).slug
        listings.publish_service(
            s,
            {
                "id": f"{slug}.testbed",
                "vendor": slug,
                "title": "Clinical test bed",
                "summary": "Try your product in a hospital",
                "category": "test_bed",
            },
            now=NOW,
        )
    with catalogue(hub, hospital.org_id) as s:
        service = commerce.ListingTerms.of(listings.get_listing(s, f"{slug}.testbed"))
    with tenant_session(hub, hospital.org_id) as s:
        with pytest.raises(ConflictError, match="service path"):
            commerce.request_trial(s, service, _actor(hospital), now=NOW)
        request_id = commerce.request_service(
            s, service, _actor(hospital), message="Hello", now=NOW
        ).id
    steps = [
        (vendor, "schedule_call", {"scoping_call_at": NOW + timedelta(days=3)}),
        (vendor, "propose", {"proposal": "Six weeks", "price": Decimal("9000"), "currency": "EUR"}),
        (hospital, "agree", {"agreement_ref": "AGR-1"}),
        (vendor, "deliver", {}),
        (hospital, "complete", {}),
    ]
    for who, action, extra in steps:
        with tenant_session(hub, who.org_id) as s:
            commerce.advance_service(s, request_id, action, _actor(who), now=NOW, **extra)
    with tenant_session(hub, hospital.org_id) as s:
        assert [e.to_state for e in events_of(s, request_id)] == [
            "inquiry",
            "scoping_call",
            "proposal",
            "agreement",
            "delivery",
            "completed",
        ]
        with pytest.raises(TransitionError):
            commerce.advance_service(s, request_id, "decline", _actor(hospital), now=NOW)


def test_usage_export_and_reviews(hub: FastAPI) -> None:
    vendor, hospital, terms = _world(hub)
    with tenant_session(hub, hospital.org_id) as s:
        with pytest.raises(PermissionDeniedError, match="entitlement"):
            commerce.add_review(s, terms, _actor(hospital), rating=5, text="", now=NOW)
        commerce.place_order(s, terms, _actor(hospital), pricing="per_study", now=NOW)
        for i in range(3):
            metering.record_usage(
                s,
                org_id=hospital.org_id,
                listing_key=terms.key,
                run_key=f"run-{i}",
                site_id=hospital.site_id,
                studies=2,
                now=NOW + timedelta(days=i * 20),
            )
        commerce.add_review(s, terms, _actor(hospital), rating=4, text="Useful", now=NOW)
    with tenant_session(hub, vendor.org_id) as s:
        rows = metering.usage_rows(
            s, side="vendor", org_id=vendor.org_id, start=NOW, end=NOW + timedelta(days=30)
        )
        text = metering.usage_csv(rows, start=NOW, end=NOW + timedelta(days=30))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [(r["app"], r["studies"], r["runs"]) for r in parsed] == [(terms.key, "4", "2")]
    with catalogue(hub, hospital.org_id) as s:
        detail = listings.listing_detail(s, terms.key)
        assert detail.rating == 4.0 and detail.reviews[0].text == "Useful"


def test_notices_reach_the_webhook_and_the_clock_expires(hub: FastAPI) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from typing import Any

    from medcoop.hub.services.analytics.alerts import (
        AlertRuleSet,
        NotifySettings,
        WebhookSettings,
        put_settings,
    )
    from medcoop.hub.services.store.notices import StoreNotifier

    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _vendor, hospital, terms = _world(hub)
        hook = WebhookSettings(url=f"http://127.0.0.1:{server.server_address[1]}/", secret="s" * 20)
        with tenant_session(hub, hospital.org_id) as s:
            put_settings(s, hospital.org_id, AlertRuleSet(), NotifySettings(webhook=hook), NOW)
            trial_id = commerce.request_trial(s, terms, _actor(hospital), now=NOW).id
        notifier = StoreNotifier(hub.state.session_factory, batch=10_000)  # other tests' too
        notifier.run_once(NOW)
        assert {r["message"] for r in received} >= {"Trial approved"}
        assert all(r["organisation"] == f"Hospital {terms.key[1:7]}" for r in received)
        sent = len(received)
        notifier.run_once(NOW)  # nothing twice
        assert len(received) == sent
        notifier.run_once(NOW + timedelta(days=15))  # the clock: the trial runs out
        with tenant_session(hub, hospital.org_id) as s:
            trial = s.scalar(select(StoreTrial).where(StoreTrial.id == trial_id))
            assert trial is not None and trial.state == "expired"
        assert any(
            r["subject"] == "trial" and r["message"] == "entitlement period ended" for r in received
        )
    finally:
        server.shutdown()
