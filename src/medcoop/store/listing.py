"""What a catalogue listing says, whatever its kind: services' description, and facets.

A listing is an **app** (described by its :class:`~medcoop.store.manifest.AppManifest`)
or a **service** (a :class:`ServiceOffering`: a test bed, a validation study on the
hospital's own data, training...). :func:`listing_facets` derives the catalogue's facet
values from either, so the facets a hospital filters by are exactly what the vendor
declared; :func:`search_text` the text the search engines index.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from medcoop.store.manifest import (
    AppId,
    ClinicalScope,
    Document,
    LongText,
    Money,
    Summary,
    Title,
    VendorSlug,
)
from medcoop.store.manifest import AppManifest as _AppManifest

__all__ = [
    "FACETS",
    "ListingKind",
    "ServiceCategory",
    "ServiceOffering",
    "listing_facets",
    "search_text",
]


class ListingKind(StrEnum):
    """The two kinds of listing."""

    APP = "app"
    SERVICE = "service"


class ServiceCategory(StrEnum):
    """What a service is (one catalogue facet, beside the apps' categories)."""

    TEST_BED = "test_bed"
    VALIDATION_STUDY = "validation_study"
    TRAINING = "training"
    CONSULTING = "consulting"
    INTEGRATION = "integration"


class ServiceOffering(BaseModel):
    """A service listing: what is offered, for which scope, on what terms.

    Every service follows the service path (inquiry → scoping call → proposal →
    agreement → delivery); ``price_from`` is an indication, the proposal sets the price.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: Literal["service"] = "service"
    id: AppId
    vendor: VendorSlug
    title: Title
    summary: Summary
    description: LongText = ""
    category: ServiceCategory
    clinical_scope: ClinicalScope = ClinicalScope()
    deliverables: tuple[Annotated[str, Field(min_length=1, max_length=300)], ...] = ()
    duration_weeks: Annotated[int, Field(ge=1, le=520)] | None = None
    price_from: Money | None = None
    documentation: tuple[Document, ...] = ()


#: The facets of the catalogue, in the order pages show them.
FACETS: Final = (
    "kind",
    "category",
    "modality",
    "body_part",
    "regulatory",
    "deployment",
    "vendor",
    "pricing",
    "has_trial",
)


def listing_facets(
    spec: _AppManifest | ServiceOffering, *, vendor_name: str
) -> list[tuple[str, str]]:
    """Return every ``(facet, value)`` of a listing (each pair once).

    Regulatory values name the region: ``EU MDR IIa``, ``US 510(k)``, ``RUO``.
    """
    pairs: list[tuple[str, str]] = [("vendor", vendor_name)]
    scope = spec.clinical_scope
    pairs += [("modality", m) for m in scope.modalities]
    pairs += [("body_part", b) for b in scope.body_parts]
    if isinstance(spec, ServiceOffering):
        pairs += [("kind", ListingKind.SERVICE.value), ("category", spec.category.value)]
        pairs += [("pricing", "quote"), ("has_trial", "no")]
    else:
        pairs += [("kind", ListingKind.APP.value), ("category", spec.category.value)]
        pairs += [("regulatory", status) for status in spec.regulatory.statuses]
        pairs += [("deployment", target.value) for target in spec.deployment]
        pairs += [("pricing", model.value) for model in spec.offers.pricing_models]
        pairs.append(("has_trial", "yes" if spec.offers.trial is not None else "no"))
    return list(dict.fromkeys(pairs))


def search_text(spec: _AppManifest | ServiceOffering, *, vendor_name: str) -> str:
    """The body a search engine indexes below the title and summary: the description,
    the clinical scope, the intended use and the vendor's name."""
    scope = spec.clinical_scope
    parts = [
        spec.description,
        vendor_name,
        " ".join(scope.modalities),
        " ".join(scope.body_parts),
        " ".join(scope.findings),
    ]
    if isinstance(spec, ServiceOffering):
        parts += [spec.category.value.replace("_", " "), *spec.deliverables]
    else:
        parts += [spec.intended_use, spec.category.value.replace("_", " ")]
    return "\n".join(p for p in parts if p)
