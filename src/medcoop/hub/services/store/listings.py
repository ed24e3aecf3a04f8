"""Vendors and their listings: registration, approval, publishing, the catalogue's reads.

A vendor organisation registers its slug (:func:`register_vendor`); the platform approves
it (:func:`approve_vendor`); only then may it publish. Publishing an app version
(:func:`publish_app`) validates the manifest (every problem listed, refused as a whole),
checks that the manifest names this vendor and a version newer than the last, and
updates the listing, its versions, its facet rows and the search index in the caller's
transaction. Services are published from a :class:`~medcoop.store.listing.ServiceOffering`.

Writes run in the vendor's own session (its tenancy scope). Reads for hospitals go
through :func:`catalogue_session`: the door, for the catalogue purpose.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medcoop.hub.db.access import Purpose
from medcoop.hub.db.models import Organisation
from medcoop.hub.db.store_models import (
    StoreListing,
    StoreListingFacet,
    StoreListingVersion,
    StoreReview,
    StoreVendor,
)
from medcoop.hub.db.tenancy import pooled
from medcoop.hub.errors import ConflictError, NotFoundError
from medcoop.hub.services.store.errors import ManifestRefusedError, VendorNotApprovedError
from medcoop.hub.services.store.search import engine_for
from medcoop.store.listing import ListingKind, ServiceOffering, listing_facets, search_text
from medcoop.store.manifest import (
    AppManifest,
    ManifestError,
    ManifestProblem,
    validate_manifest,
    version_key,
)

__all__ = [
    "ListingDetail",
    "approve_vendor",
    "approved_vendor",
    "catalogue_session",
    "get_listing",
    "listing_detail",
    "own_listings",
    "publish_app",
    "publish_service",
    "record_package",
    "register_vendor",
    "vendor_of",
    "withdraw_listing",
]


def catalogue_session(session: Session, tenant: uuid.UUID | None) -> Session:
    """Open ``session`` (fresh) through the door for the catalogue, on behalf of
    ``tenant``: every vendor's listings, facets and reviews."""
    return pooled(session, Purpose.CATALOGUE, tenant=tenant)


# --- vendors ----------------------------------------------------------------------------------


def register_vendor(
    session: Session, org_id: uuid.UUID, slug: str, display_name: str | None = None
) -> StoreVendor:
    """Ask for ``org_id`` to sell as ``slug`` (pending the platform's approval)."""
    if session.scalar(select(StoreVendor)) is not None:
        raise ConflictError("this organisation is already registered as a vendor")
    _check_slug(slug)
    name = display_name or session.scalar(
        select(Organisation.name).where(Organisation.id == org_id)
    )
    vendor = StoreVendor(org_id=org_id, slug=slug, display_name=name or slug, status="pending")
    session.add(vendor)
    return vendor


def _check_slug(slug: str) -> None:
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug) or not 2 <= len(slug) <= 63:
        raise ManifestRefusedError(
            [ManifestProblem("slug", "a vendor slug is lower case letters, digits and hyphens")]
        )


def approve_vendor(
    session: Session, vendor_org_id: uuid.UUID, *, by: uuid.UUID | None, now: datetime
) -> StoreVendor:
    """The platform approves a vendor (``session``: the platform's, administering)."""
    vendor = session.scalar(select(StoreVendor).where(StoreVendor.org_id == vendor_org_id))
    if vendor is None:
        raise NotFoundError("vendor", vendor_org_id)
    vendor.status = "approved"
    vendor.approved_at = now
    vendor.approved_by = by
    return vendor


def vendor_of(session: Session) -> StoreVendor | None:
    """The vendor record of the session's organisation, if it registered."""
    return session.scalar(select(StoreVendor))


def approved_vendor(session: Session) -> StoreVendor:
    """The session's organisation as an approved vendor, or
    :class:`VendorNotApprovedError`."""
    vendor = vendor_of(session)
    if vendor is None:
        raise VendorNotApprovedError("this organisation has not registered as a store vendor")
    if vendor.status != "approved":
        raise VendorNotApprovedError(f"this vendor is {vendor.status}, not approved")
    return vendor


# --- publishing -------------------------------------------------------------------------------


def publish_app(
    session: Session, manifest: AppManifest | Mapping[str, Any] | bytes | str, *, now: datetime
) -> StoreListingVersion:
    """Publish one version of an app of the session's (approved) vendor."""
    vendor = approved_vendor(session)
    if not isinstance(manifest, AppManifest):
        try:
            manifest = validate_manifest(manifest)
        except ManifestError as exc:
            raise ManifestRefusedError(exc.problems) from None
    if manifest.vendor != vendor.slug:
        raise ManifestRefusedError(
            [ManifestProblem("vendor", f"this organisation publishes as {vendor.slug!r}")]
        )
    listing = session.scalar(select(StoreListing).where(StoreListing.listing_key == manifest.id))
    latest = listing.latest_version if listing is not None else None
    if latest and version_key(manifest.version) <= version_key(latest):
        raise ConflictError(
            f"{manifest.id} {manifest.version} is not newer than {latest}"
        )
    spec = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    listing = _upsert_listing(session, vendor, listing, manifest, spec, now=now)
    listing.latest_version = manifest.version
    listing.has_trial = manifest.offers.trial is not None
    version = StoreListingVersion(
        org_id=vendor.org_id,
        listing_id=listing.id,
        version=manifest.version,
        manifest=spec,
        changelog=manifest.changelog,
        published_at=now,
    )
    session.add(version)
    _reindex(session, listing, listing_facets(manifest, vendor_name=vendor.display_name))
    return version


def publish_service(
    session: Session, offering: ServiceOffering | Mapping[str, Any], *, now: datetime
) -> StoreListing:
    """Publish (or update) a service listing of the session's (approved) vendor."""
    vendor = approved_vendor(session)
    if not isinstance(offering, ServiceOffering):
        try:
            offering = ServiceOffering.model_validate(offering)
        except ValidationError as exc:
            raise ManifestRefusedError(
                [
                    ManifestProblem(".".join(str(p) for p in e["loc"]), e["msg"])
                    for e in exc.errors()
                ]
            ) from None
    if offering.vendor != vendor.slug:
        raise ManifestRefusedError(
            [ManifestProblem("vendor", f"this organisation publishes as {vendor.slug!r}")]
        )
    listing = session.scalar(select(StoreListing).where(StoreListing.listing_key == offering.id))
    spec = offering.model_dump(mode="json", exclude_none=True)
    listing = _upsert_listing(session, vendor, listing, offering, spec, now=now)
    _reindex(session, listing, listing_facets(offering, vendor_name=vendor.display_name))
    return listing


def _upsert_listing(
    session: Session,
    vendor: StoreVendor,
    listing: StoreListing | None,
    spec_model: AppManifest | ServiceOffering,
    spec: dict[str, Any],
    *,
    now: datetime,
) -> StoreListing:
    kind = ListingKind.SERVICE if isinstance(spec_model, ServiceOffering) else ListingKind.APP
    if listing is None:
        listing = StoreListing(
            org_id=vendor.org_id,
            kind=kind.value,
            listing_key=spec_model.id,
            vendor_slug=vendor.slug,
            created_at=now,
        )
        session.add(listing)
    listing.vendor_name = vendor.display_name
    listing.title = spec_model.title
    listing.summary = spec_model.summary
    listing.description = spec_model.description
    listing.category = spec_model.category.value
    listing.spec = spec
    listing.status = "published"
    listing.search_body = search_text(spec_model, vendor_name=vendor.display_name)
    listing.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # listing keys are unique across vendors; another vendor's is not visible here
        raise ConflictError(f"the listing id {spec_model.id} is taken") from None
    return listing


def _reindex(session: Session, listing: StoreListing, facets: list[tuple[str, str]]) -> None:
    session.execute(delete(StoreListingFacet).where(StoreListingFacet.listing_id == listing.id))
    session.add_all(
        StoreListingFacet(org_id=listing.org_id, listing_id=listing.id, facet=f, value=v[:120])
        for f, v in facets
    )
    engine_for(session).index(session, listing)


def withdraw_listing(session: Session, listing_id: uuid.UUID, *, now: datetime) -> StoreListing:
    """Take one of the vendor's listings out of the catalogue (entitlements stay)."""
    approved_vendor(session)
    listing = get_listing(session, listing_id)
    listing.status = "withdrawn"
    listing.updated_at = now
    engine_for(session).unindex(session, listing.id)
    return listing


def record_package(
    session: Session, listing_key: str, version: str, target_path: str
) -> StoreListingVersion:
    """Note the TUF target path of a version's wheel (the repository calls this)."""
    row = session.scalar(
        select(StoreListingVersion)
        .join(StoreListing, StoreListing.id == StoreListingVersion.listing_id)
        .where(StoreListing.listing_key == listing_key, StoreListingVersion.version == version)
    )
    if row is None:
        raise NotFoundError("listing version", f"{listing_key} {version}")
    row.target_path = target_path
    return row


# --- reads ------------------------------------------------------------------------------------


def get_listing(session: Session, listing_id: uuid.UUID | str) -> StoreListing:
    """A listing by id or listing key, as the session sees it (else 404)."""
    condition = (
        StoreListing.id == listing_id
        if isinstance(listing_id, uuid.UUID)
        else StoreListing.listing_key == listing_id
    )
    listing = session.scalar(select(StoreListing).where(condition))
    if listing is None:
        raise NotFoundError("listing", listing_id)
    return listing


def own_listings(session: Session) -> list[StoreListing]:
    """The vendor's own listings, published or withdrawn."""
    return list(session.scalars(select(StoreListing).order_by(StoreListing.title)))


@dataclass(frozen=True, slots=True)
class ListingDetail:
    """A listing page's content: the listing, its versions (newest first), reviews."""

    listing: StoreListing
    versions: list[StoreListingVersion]
    reviews: list[StoreReview]
    rating: float | None


def listing_detail(session: Session, key: uuid.UUID | str) -> ListingDetail:
    """A published listing with its versions and reviews (``session``: the catalogue's)."""
    listing = get_listing(session, key)
    if listing.status != "published":
        raise NotFoundError("listing", key)
    versions = sorted(
        session.scalars(
            select(StoreListingVersion).where(StoreListingVersion.listing_id == listing.id)
        ),
        key=lambda v: version_key(v.version),
        reverse=True,
    )
    reviews = list(
        session.scalars(
            select(StoreReview)
            .where(StoreReview.listing_id == listing.id)
            .order_by(StoreReview.created_at.desc())
        )
    )
    rating = sum(r.rating for r in reviews) / len(reviews) if reviews else None
    return ListingDetail(listing, versions, reviews, rating)
