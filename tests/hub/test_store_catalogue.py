"""Catalogue: publishing, ranking and facet counts, on SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from medcoop.hub.errors import ConflictError
from medcoop.hub.services.store import listings
from medcoop.hub.services.store.errors import ManifestRefusedError, VendorNotApprovedError
from medcoop.hub.services.store.search import CatalogueQuery, search
from tests.hub.store_world import NOW, app_manifest, catalogue, make_vendor, tenant_session


def _publish_fixture_catalogue(app: FastAPI) -> None:
    acme = make_vendor(app, "Acme Imaging", "acme")
    beta = make_vendor(app, "Beta Health", "beta")
    with tenant_session(app, acme.org_id) as s:
        # "pneumothorax" in the title of one, only in the description of another
        listings.publish_app(
            s,
            app_manifest("acme", "ptx", title="Pneumothorax finder", summary="Chest X-ray triage"),
            now=NOW,
        )
        listings.publish_app(
            s,
            app_manifest(
                "acme",
                "chest-suite",
                title="Chest suite",
                summary="Many chest findings",
                description="Nodules, effusion and pneumothorax on radiographs.",
            ),
            now=NOW,
        )
    with tenant_session(app, beta.org_id) as s:
        listings.publish_app(
            s,
            app_manifest(
                "beta",
                "ct-dose",
                title="CT dose watch",
                summary="Dose trends for CT",
                category="dose_analytics",
                regulatory={"research_use_only": True},
                clinical_scope={"modalities": ["CT"], "body_parts": ["HEAD", "CHEST"]},
                offers={
                    "subscriptions": [
                        {"name": "year", "period": "year", "price": {"amount": "900"}}
                    ]
                },
            ),
            now=NOW,
        )
        listings.publish_service(
            s,
            {
                "id": "beta.validation",
                "vendor": "beta",
                "title": "Validation study",
                "summary": "Validate an AI model on your own chest radiographs",
                "category": "validation_study",
                "clinical_scope": {"modalities": ["DX"]},
            },
            now=NOW,
        )


def test_ranking_and_facets(app: FastAPI) -> None:
    _publish_fixture_catalogue(app)
    with catalogue(app) as s:
        found = search(s, CatalogueQuery(text="pneumothorax"))
        assert [h.listing.listing_key for h in found.hits] == ["acme.ptx", "acme.chest-suite"]
        assert found.hits[0].rank > found.hits[1].rank > 0
        # prefixes; every word required
        assert search(s, CatalogueQuery(text="pneumo chest")).total == 2
        assert search(s, CatalogueQuery(text="pneumo dose")).total == 0
        # operators and quotes are words, never syntax
        assert search(s, CatalogueQuery(text='"chest)" (*:^')).total == 4
        everything = search(s, CatalogueQuery())
        assert everything.total == 4
        facets = dict((f, dict(v)) for f, v in everything.facets.items())
        assert facets["kind"] == {"app": 3, "service": 1}
        assert facets["modality"] == {"DX": 3, "CR": 2, "CT": 1}
        assert facets["regulatory"] == {"EU MDR IIa": 2, "US 510(k)": 2, "RUO": 1}
        assert facets["has_trial"] == {"yes": 2, "no": 2}
        assert facets["vendor"] == {"Acme Imaging": 2, "Beta Health": 2}
        assert facets["pricing"] == {"per_study": 2, "quote": 3, "subscription": 1}
        # a facet's own filter leaves its counts, narrows the others
        ct = search(s, CatalogueQuery(filters={"modality": ["CT"]}))
        assert [h.listing.listing_key for h in ct.hits] == ["beta.ct-dose"]
        ct_facets = dict((f, dict(v)) for f, v in ct.facets.items())
        assert ct_facets["modality"] == {"DX": 3, "CR": 2, "CT": 1}
        assert ct_facets["vendor"] == {"Beta Health": 1}
        both = search(
            s,
            CatalogueQuery(
                text="chest", filters={"vendor": ["Acme Imaging"], "has_trial": ["yes"]}
            ),
        )
        assert both.total == 2
        with pytest.raises(ValueError, match="unknown facets"):
            search(s, CatalogueQuery(filters={"colour": ["red"]}))


def test_withdrawn_listings_leave_the_catalogue(app: FastAPI) -> None:
    _publish_fixture_catalogue(app)
    with catalogue(app) as s:
        listing = listings.get_listing(s, "acme.ptx")
    acme_org = listing.org_id
    with tenant_session(app, acme_org) as s:
        listings.withdraw_listing(s, listing.id, now=NOW)
    with catalogue(app) as s:
        assert search(s, CatalogueQuery(text="pneumothorax")).total == 1
        assert search(s, CatalogueQuery()).total == 3


def test_publish_rules(app: FastAPI) -> None:
    acme = make_vendor(app, "Acme Imaging", "acme")
    pending = make_vendor(app, "Gamma", "gamma", approve=False)
    with tenant_session(app, pending.org_id) as s, pytest.raises(VendorNotApprovedError):
        listings.publish_app(s, app_manifest("gamma", "x"), now=NOW)
    with tenant_session(app, acme.org_id) as s:
        with pytest.raises(ManifestRefusedError) as refused:
            listings.publish_app(s, app_manifest("beta", "x"), now=NOW)
        assert [p.location for p in refused.value.problems] == ["vendor"]
        with pytest.raises(ManifestRefusedError) as refused:
            listings.publish_app(s, app_manifest("acme", "x", version="x", deployment=[]), now=NOW)
        assert len(refused.value.problems) == 2
        listings.publish_app(s, app_manifest("acme", "x", version="1.0.0"), now=NOW)
        listings.publish_app(
            s, app_manifest("acme", "x", version="1.1.0", changelog="Faster."), now=NOW
        )
        with pytest.raises(ConflictError, match="not newer"):
            listings.publish_app(s, app_manifest("acme", "x", version="1.0.5"), now=NOW)
    with catalogue(app) as s:
        detail = listings.listing_detail(s, "acme.x")
        assert [v.version for v in detail.versions] == ["1.1.0", "1.0.0"]
        assert detail.versions[0].changelog == "Faster."
