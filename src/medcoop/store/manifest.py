"""The app manifest: what an app is, what it may run on, and on what terms it is offered.

An app in the store is a Python wheel plus one :class:`AppManifest` (JSON). The manifest
is the contract between four parties: the vendor who writes it, the hub that lists and
sells it (catalogue facets come from it), the TUF repository that signs it beside the
wheel, and the runtime that decides, from its :class:`DicomInput` selectors, which
studies the app receives and with which :class:`Parameter` values.

Versioning: :data:`MANIFEST_VERSION` is ``MAJOR.MINOR``. A manifest names the version it
was written for in ``manifest_version``; any ``1.x`` is read by this code, minor versions
only add optional fields, and unknown fields are refused (``extra="forbid"``) so that a
typo is an error rather than a silently ignored setting.

Validation lists every problem at once: :func:`validate_manifest` returns the manifest or
raises :class:`ManifestError`, whose ``problems`` name each wrong field by its location
(``inputs.0.selectors.1.attribute``). Field errors come from pydantic (all of them, in
one pass); the rules that tie fields together (an edge app reads DICOM, a research-use
app has no clearance...) are checked by :func:`cross_field_problems` once the fields
themselves are valid, and are reported together too.

Selectors are declarative on purpose (``{"attribute": "Modality", "in": ["CT"]}``): the
runtime matches them without running vendor code, the catalogue shows them, and
:meth:`Selector.matches` is the one implementation of what they mean.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydicom.datadict import tag_for_keyword

__all__ = [
    "MANIFEST_SCHEMA_ID",
    "MANIFEST_VERSION",
    "AppCategory",
    "AppManifest",
    "AttributeSource",
    "ClinicalScope",
    "DataScope",
    "DeploymentTarget",
    "DicomInput",
    "DicomSelector",
    "Document",
    "EuMdr",
    "GpuUse",
    "InputSpec",
    "Licence",
    "ManifestError",
    "ManifestProblem",
    "Money",
    "Offers",
    "OutputKind",
    "OutputSpec",
    "Parameter",
    "ParameterError",
    "ParameterType",
    "PooledInput",
    "PricingModel",
    "Provenance",
    "RecordSelector",
    "Regulatory",
    "Resources",
    "SbomRef",
    "Selector",
    "SubscriptionPlan",
    "TrialApproval",
    "TrialOffer",
    "UsFda",
    "cross_field_problems",
    "manifest_json_schema",
    "validate_manifest",
    "version_key",
]

MANIFEST_MAJOR: Final = 1
MANIFEST_VERSION: Final = f"{MANIFEST_MAJOR}.0"
#: The ``$id`` of the published JSON Schema (the hub serves it at this path).
MANIFEST_SCHEMA_ID: Final = "/api/v1/store/manifest.schema.json"

#: A vendor's slug: also its TUF delegation path (``vendors/<vendor>/*``).
VendorSlug = Annotated[
    str, Field(min_length=2, max_length=63, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
]
#: An app id: ``<vendor>.<name>``, lower case, dots and hyphens.
AppId = Annotated[
    str, Field(min_length=3, max_length=100, pattern=r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
]
_VERSION_PATTERN: Final = (
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"((a|b|rc)(0|[1-9][0-9]*))?(\.post[0-9]+)?(\.dev[0-9]+)?$"
)


def _release_version(value: str) -> str:
    if re.fullmatch(_VERSION_PATTERN, value) is None:
        raise ValueError(
            f"{value!r} is not a release version: MAJOR.MINOR.MICRO, optionally with"
            " a1/b1/rc1, .post1, .dev1 (the PEP 440 subset wheels use)"
        )
    return value


#: A release version, the PEP 440 subset wheels use: ``1.2.0``, ``2.0.0rc1``, ``1.0.1.post1``.
Version = Annotated[
    str,
    Field(max_length=40, json_schema_extra={"pattern": _VERSION_PATTERN}),
    AfterValidator(_release_version),
]
#: ``package.module:callable`` (the callable may be dotted: ``module:App.run``).
EntryPoint = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
        r":[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
    ),
]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Title = Annotated[str, Field(min_length=1, max_length=120)]
Summary = Annotated[str, Field(min_length=1, max_length=300)]
LongText = Annotated[str, Field(max_length=20_000)]
#: A DICOM code string as Modality (0008,0060) holds it: ``CT``, ``DX``, ``MG``.
ModalityCode = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Z0-9_]+$")]
#: A Body Part Examined (0018,0015) code string: ``CHEST``, ``HEAD``, ``ABDOMEN``.
BodyPart = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Z0-9_ ]+$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True
    )


# --- problems ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManifestProblem:
    """One thing wrong with a manifest: where (dotted field path, ``""`` for the whole) and
    what."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location or '(manifest)'}: {self.message}"


class ManifestError(ValueError):
    """A manifest was refused; ``problems`` lists every reason, each with its location."""

    def __init__(self, problems: Sequence[ManifestProblem]) -> None:
        self.problems: tuple[ManifestProblem, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid app manifest ({len(self.problems)} problems):\n{lines}")


class ParameterError(ManifestError):
    """Run parameters do not fit the manifest's :class:`Parameter` declarations."""


# --- descriptive parts ------------------------------------------------------------------------


class AppCategory(StrEnum):
    """What an app does (one catalogue facet)."""

    AI_DIAGNOSTICS = "ai_diagnostics"
    DOSE_ANALYTICS = "dose_analytics"
    USAGE_ANALYTICS = "usage_analytics"
    QUALITY_ASSURANCE = "quality_assurance"
    WORKFLOW = "workflow"
    RESEARCH = "research"


class Document(_Strict):
    """A document or image the listing links to (instructions for use, a certificate)."""

    title: Title
    url: AnyHttpUrl
    #: e.g. ``ifu``, ``declaration_of_conformity``, ``certificate``, ``screenshot``.
    kind: Identifier = "document"


class ClinicalScope(_Strict):
    """Where the app applies: modalities and body parts (DICOM code strings), findings."""

    modalities: tuple[ModalityCode, ...] = ()
    body_parts: tuple[BodyPart, ...] = ()
    findings: tuple[Annotated[str, Field(min_length=1, max_length=120)], ...] = ()


class EuMdr(_Strict):
    """EU MDR (2017/745) classification; class IIa and above need a notified body."""

    mdr_class: Literal["I", "IIa", "IIb", "III"]
    #: The notified body's four-digit NANDO number, e.g. ``0123``.
    notified_body: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None
    certificate: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _notified_body_when_needed(self) -> EuMdr:
        if self.mdr_class != "I" and (self.notified_body is None or self.certificate is None):
            raise ValueError(
                f"MDR class {self.mdr_class} needs a notified_body and its certificate"
            )
        return self


class UsFda(_Strict):
    """US FDA premarket clearance: the 510(k) number (``K`` and six digits)."""

    k510: Annotated[str, Field(pattern=r"^K[0-9]{6}$")]


class Regulatory(_Strict):
    """Regulatory status per region, or research use only (which blocks clinical routing).

    A cleared app names at least one region; a research-use-only app names none (a
    clearance and ``research_use_only`` contradict each other).
    """

    eu_mdr: EuMdr | None = None
    us_fda: UsFda | None = None
    research_use_only: bool = False
    documents: tuple[Document, ...] = ()

    @model_validator(mode="after")
    def _one_status(self) -> Regulatory:
        cleared = self.eu_mdr is not None or self.us_fda is not None
        if self.research_use_only and cleared:
            raise ValueError("research_use_only excludes an EU MDR or FDA clearance")
        if not self.research_use_only and not cleared:
            raise ValueError(
                "name a clearance (eu_mdr, us_fda) or set research_use_only: true"
            )
        return self

    @property
    def statuses(self) -> tuple[str, ...]:
        """The statuses as catalogue facet values: ``EU MDR IIa``, ``US 510(k)``, ``RUO``."""
        if self.research_use_only:
            return ("RUO",)
        out: list[str] = []
        if self.eu_mdr is not None:
            out.append(f"EU MDR {self.eu_mdr.mdr_class}")
        if self.us_fda is not None:
            out.append("US 510(k)")
        return tuple(out)


# --- inputs -----------------------------------------------------------------------------------


class AttributeSource(Protocol):
    """Anything that answers ``get(name, default)``: a pydicom ``Dataset`` (by keyword), a
    dict of a pooled record's fields."""

    def get(self, key: str, default: Any = None, /) -> Any:
        """Return the value named ``key``, or ``default``."""


_OPERATORS: Final = ("in_", "not_in", "equals", "contains", "present")


class Selector(_Strict):
    """One declarative test on one attribute; a study matches an input when all its
    selectors match.

    Exactly one operator, or a range (``min`` and/or ``max``):

    - ``in`` / ``not_in``: the value (any value, for a multi-valued attribute such as
      ImageType) is / is not one of the listed strings (compared trimmed and
      case-insensitively);
    - ``equals``: the value is this string (likewise);
    - ``contains``: the value contains this text (case-insensitive), e.g. a protocol name;
    - ``present``: the attribute is present and not empty (``true``) or absent (``false``);
    - ``min`` / ``max``: the value is a number within the bounds (inclusive).

    ``attribute`` is a DICOM keyword (``Modality``, ``BodyPartExamined``) in a
    :class:`DicomInput`, a dotted record field (``modality``, ``patient.age_years``) in a
    :class:`PooledInput`.
    """

    attribute: Annotated[str, Field(min_length=1, max_length=100)]
    in_: tuple[str, ...] | None = Field(default=None, alias="in", min_length=1)
    not_in: tuple[str, ...] | None = Field(default=None, min_length=1)
    equals: str | None = None
    contains: Annotated[str, Field(min_length=1)] | None = None
    present: bool | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Selector:
        named = [op.rstrip("_") for op in _OPERATORS if getattr(self, op) is not None]
        ranged = self.min is not None or self.max is not None
        if len(named) + ranged != 1:
            found = ", ".join(named + (["min/max"] if ranged else [])) or "none"
            raise ValueError(
                "a selector has exactly one operator (in, not_in, equals, contains, present,"
                f" or a min/max range); found {found}"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def matches(self, value: Any) -> bool:
        """Whether ``value`` (the attribute's value; ``None`` when absent) passes."""
        values = _values(value)
        if self.present is not None:
            return bool(values) is self.present
        if not values:
            return self.not_in is not None
        if self.min is not None or self.max is not None:
            return any(self._in_range(v) for v in values)
        texts = [str(v).strip().casefold() for v in values]
        if self.in_ is not None:
            wanted = {w.strip().casefold() for w in self.in_}
            return any(t in wanted for t in texts)
        if self.not_in is not None:
            refused = {w.strip().casefold() for w in self.not_in}
            return not any(t in refused for t in texts)
        if self.equals is not None:
            return self.equals.strip().casefold() in texts
        assert self.contains is not None
        needle = self.contains.casefold()
        return any(needle in t for t in texts)

    def _in_range(self, value: Any) -> bool:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        low = self.min if self.min is not None else float("-inf")
        high = self.max if self.max is not None else float("inf")
        return low <= number <= high


def _values(value: Any) -> list[Any]:
    """The non-empty values of an attribute: a multi-valued one (pydicom's MultiValue, a
    list) is many; ``None`` and ``""`` are none."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        items: list[Any] = [value]
    else:
        items = list(value)
    return [v for v in items if v is not None and str(v).strip() != ""]


class DicomSelector(Selector):
    """A :class:`Selector` whose attribute is a DICOM keyword (``Modality``)."""

    @field_validator("attribute")
    @classmethod
    def _dicom_keyword(cls, attribute: str) -> str:
        if tag_for_keyword(attribute) is None:
            raise ValueError(f"{attribute!r} is not a DICOM keyword")
        return attribute


class RecordSelector(Selector):
    """A :class:`Selector` whose attribute is a dotted field of a pooled study record
    (:class:`medcoop.records.StudyRecord`: ``modality``, ``device.manufacturer``)."""

    @field_validator("attribute")
    @classmethod
    def _record_field(cls, attribute: str) -> str:
        if not _record_path_exists(attribute):
            raise ValueError(f"{attribute!r} is not a field of a study record")
        return attribute


class _Input(_Strict):
    name: Identifier
    description: Annotated[str, Field(max_length=2000)] = ""
    selectors: tuple[Selector, ...] = ()

    def matches(self, source: AttributeSource) -> bool:
        """Whether every selector passes on ``source`` (a Dataset, a record's fields)."""
        return all(s.matches(source.get(s.attribute, None)) for s in self.selectors)


class DicomInput(_Input):
    """Studies at the edge, chosen by selectors on DICOM attributes (by keyword)."""

    kind: Literal["dicom"] = "dicom"
    selectors: tuple[DicomSelector, ...] = ()


class PooledInput(_Input):
    """De-identified pooled study records at the hub (cloud apps), chosen by selectors on
    the record's fields (:class:`medcoop.records.StudyRecord`, dotted: ``device.modality``)."""

    kind: Literal["pooled"] = "pooled"
    record: Literal["study"] = "study"
    selectors: tuple[RecordSelector, ...] = ()


def _record_path_exists(path: str) -> bool:
    from medcoop.records import StudyRecord

    model: Any = StudyRecord
    for part in path.split("."):
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = _model_in(fields[part].annotation)
    return True


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds (``X``, ``X | None``, ``tuple[X, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


InputSpec = Annotated[DicomInput | PooledInput, Field(discriminator="kind")]


# --- outputs, parameters, resources -----------------------------------------------------------


class OutputKind(StrEnum):
    """What an app returns."""

    FINDINGS_JSON = "findings_json"
    MEASUREMENTS = "measurements"
    DICOM_SR = "dicom_sr"
    DICOM_OBJECT = "dicom_object"
    ALERT = "alert"


class OutputSpec(_Strict):
    """One output; ``findings_schema`` (a JSON Schema) validates findings JSON at run time."""

    name: Identifier
    kind: OutputKind
    description: Annotated[str, Field(max_length=2000)] = ""
    findings_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema_for_findings(self) -> OutputSpec:
        if self.findings_schema is not None and self.kind is not OutputKind.FINDINGS_JSON:
            raise ValueError("findings_schema is for findings_json outputs only")
        return self


class ParameterType(StrEnum):
    """The type of a run parameter."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ENUM = "enum"


ParameterValue = bool | int | float | str


class Parameter(_Strict):
    """A run parameter with its type and default (``None``: the run must give one)."""

    name: Identifier
    type: ParameterType
    default: ParameterValue | None = None
    description: Annotated[str, Field(max_length=2000)] = ""
    choices: tuple[str, ...] | None = Field(default=None, min_length=1)
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        numeric = self.type in (ParameterType.INTEGER, ParameterType.NUMBER)
        if (self.choices is not None) != (self.type is ParameterType.ENUM):
            raise ValueError("choices are given for, and only for, an enum parameter")
        if not numeric and (self.minimum is not None or self.maximum is not None):
            raise ValueError("minimum and maximum are for integer and number parameters")
        if self.default is not None:
            problem = self.check(self.default)
            if problem:
                raise ValueError(f"default {self.default!r}: {problem}")
        return self

    def check(self, value: Any) -> str | None:
        """Return why ``value`` does not fit this parameter, or ``None`` when it does."""
        kind = self.type
        if kind is ParameterType.BOOLEAN:
            return None if isinstance(value, bool) else "is not a boolean"
        if kind in (ParameterType.STRING, ParameterType.ENUM):
            if not isinstance(value, str):
                return "is not a string"
            if self.choices is not None and value not in self.choices:
                return f"is not one of {', '.join(self.choices)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"is not an {kind.value}" if kind is ParameterType.INTEGER else "is not a number"
        if kind is ParameterType.INTEGER and not isinstance(value, int):
            return "is not an integer"
        if self.minimum is not None and value < self.minimum:
            return f"is below the minimum {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return f"is above the maximum {self.maximum}"
        return None


class GpuUse(StrEnum):
    """Whether the app can use a GPU: never required (every app runs on CPU)."""

    NONE = "none"
    OPTIONAL = "optional"


class Resources(_Strict):
    """What one run needs; the runtime enforces these as limits."""

    cpu_cores: Annotated[float, Field(gt=0, le=64)] = 1.0
    memory_mb: Annotated[int, Field(ge=16, le=262_144)] = 512
    timeout_s: Annotated[int, Field(ge=1, le=86_400)] = 300
    gpu: GpuUse = GpuUse.NONE

    @field_validator("gpu", mode="before")
    @classmethod
    def _never_required(cls, value: Any) -> Any:
        if value == "required":
            raise ValueError("a GPU may be optional, never required: every app runs on CPU")
        return value


class DeploymentTarget(StrEnum):
    """Where an app runs: the cloud (pooled de-identified data) or an edge (local data)."""

    CLOUD = "cloud"
    EDGE = "edge"


class DataScope(StrEnum):
    """The data an app is granted; the runtime gives it nothing else."""

    #: The identified images of the studies its selectors match, at the edge, read-only.
    EDGE_IMAGES = "edge:images"
    #: Sending its DICOM results into the original study on the hospital's PACS.
    EDGE_PACS_WRITE = "edge:pacs-write"
    #: Pooled de-identified study records (cloud).
    POOLED_STUDIES = "pooled:studies"
    #: Pooled dose summaries (cloud).
    POOLED_DOSE = "pooled:dose"
    #: Pooled usage facts (cloud).
    POOLED_USAGE = "pooled:usage"


# --- commercial terms, licence, provenance ----------------------------------------------------


class Money(_Strict):
    """An amount in an ISO 4217 currency (no payment is processed: prices are terms)."""

    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"


class TrialApproval(StrEnum):
    """Who approves a trial request."""

    AUTOMATIC = "automatic"
    VENDOR = "vendor"


class TrialOffer(_Strict):
    """A trial: this many days and at most this many studies, whichever ends first."""

    days: Annotated[int, Field(ge=1, le=365)]
    study_cap: Annotated[int, Field(ge=1, le=1_000_000)]
    approval: TrialApproval = TrialApproval.VENDOR


class SubscriptionPlan(_Strict):
    """A subscription: a price per period, optionally with a study quota and site limit."""

    name: Identifier
    period: Literal["month", "year"]
    price: Money
    studies_per_period: Annotated[int, Field(ge=1)] | None = None
    max_sites: Annotated[int, Field(ge=1)] | None = None


class PricingModel(StrEnum):
    """How a listing is paid for (one catalogue facet)."""

    FREE = "free"
    SUBSCRIPTION = "subscription"
    PER_STUDY = "per_study"
    QUOTE = "quote"


class Offers(_Strict):
    """The commercial offers: a trial, subscription plans, a per-study price, a quote on
    request, or free; at least one of the last four."""

    trial: TrialOffer | None = None
    subscriptions: tuple[SubscriptionPlan, ...] = ()
    per_study: Money | None = None
    quote_on_request: bool = False
    free: bool = False

    @model_validator(mode="after")
    def _something_offered(self) -> Offers:
        if not self.pricing_models:
            raise ValueError(
                "offer at least one of: subscriptions, per_study, quote_on_request, free"
            )
        names = [p.name for p in self.subscriptions]
        if len(set(names)) != len(names):
            raise ValueError("subscription plan names repeat")
        return self

    @property
    def pricing_models(self) -> tuple[PricingModel, ...]:
        """The pricing models offered, in facet order."""
        flags = (
            (self.free, PricingModel.FREE),
            (bool(self.subscriptions), PricingModel.SUBSCRIPTION),
            (self.per_study is not None, PricingModel.PER_STUDY),
            (self.quote_on_request, PricingModel.QUOTE),
        )
        return tuple(model for on, model in flags if on)


class Licence(_Strict):
    """The licence: an SPDX identifier (``Apache-2.0``) or ``LicenseRef-<name>`` for a
    vendor's own terms, with where to read it."""

    spdx: Annotated[str, Field(max_length=100, pattern=r"^(LicenseRef-)?[A-Za-z0-9.+-]+$")]
    url: AnyHttpUrl | None = None


class SbomRef(_Strict):
    """Where the software bill of materials is, its format and digest."""

    format: Literal["cyclonedx", "spdx"]
    uri: Annotated[str, Field(min_length=1, max_length=500)]
    sha256: Sha256 | None = None


class Provenance(_Strict):
    """Where the package came from: source repository, build identity, SBOM."""

    source: Annotated[str, Field(min_length=1, max_length=500)]
    build: Annotated[str, Field(min_length=1, max_length=200)]
    sbom: SbomRef | None = None


# --- the manifest -----------------------------------------------------------------------------


class AppManifest(_Strict):
    """One version of one app: everything the store, the repository and the runtime need.

    ``id`` is ``<vendor>.<name>``: the vendor's slug is also its TUF delegation path, so
    an id names its publisher.
    """

    model_config = ConfigDict(
        title="medcoop app manifest",
        json_schema_extra={"$id": MANIFEST_SCHEMA_ID},
    )

    manifest_version: Annotated[str, Field(pattern=rf"^{MANIFEST_MAJOR}\.[0-9]+$")] = (
        MANIFEST_VERSION
    )
    id: AppId
    version: Version
    vendor: VendorSlug
    title: Title
    summary: Summary
    description: LongText = ""
    category: AppCategory
    intended_use: Annotated[str, Field(min_length=10, max_length=5000)]
    regulatory: Regulatory
    clinical_scope: ClinicalScope = ClinicalScope()
    inputs: Annotated[tuple[InputSpec, ...], Field(min_length=1)]
    outputs: Annotated[tuple[OutputSpec, ...], Field(min_length=1)]
    parameters: tuple[Parameter, ...] = ()
    resources: Resources = Resources()
    deployment: Annotated[tuple[DeploymentTarget, ...], Field(min_length=1)]
    data_scopes: tuple[DataScope, ...] = ()
    offers: Offers
    licence: Licence
    provenance: Provenance
    #: The app's Python entry point in its wheel: ``package.module:callable``.
    entry_point: EntryPoint
    #: What changed in this version (shown on the listing's versions list).
    changelog: LongText = ""
    documentation: tuple[Document, ...] = ()
    screenshots: tuple[Document, ...] = ()

    @model_validator(mode="after")
    def _cross_fields(self, info: Any) -> AppManifest:
        # validate_manifest runs the rules itself, to report each with its location
        if (getattr(info, "context", None) or {}).get("defer_cross_checks"):
            return self
        problems = cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        return self

    @property
    def allows_clinical_routing(self) -> bool:
        """Whether the runtime may route clinical studies to it (not research use only)."""
        return not self.regulatory.research_use_only

    @property
    def dicom_inputs(self) -> tuple[DicomInput, ...]:
        """The inputs an edge runtime matches studies against."""
        return tuple(i for i in self.inputs if isinstance(i, DicomInput))

    @property
    def pooled_inputs(self) -> tuple[PooledInput, ...]:
        """The inputs a cloud run queries pooled records with."""
        return tuple(i for i in self.inputs if isinstance(i, PooledInput))

    def matching_inputs(self, source: AttributeSource) -> tuple[DicomInput, ...]:
        """The DICOM inputs whose selectors all pass on ``source`` (a pydicom Dataset)."""
        return tuple(i for i in self.dicom_inputs if i.matches(source))

    def resolve_parameters(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return every parameter's value for a run: ``given`` over the defaults.

        Raises :class:`ParameterError` listing every unknown name, missing value and
        value of the wrong type.
        """
        given = dict(given or {})
        declared = {p.name: p for p in self.parameters}
        problems = [
            ManifestProblem(f"parameters.{name}", "is not a parameter of this app")
            for name in given
            if name not in declared
        ]
        values: dict[str, Any] = {}
        for name, parameter in declared.items():
            value = given.get(name, parameter.default)
            if value is None:
                problems.append(ManifestProblem(f"parameters.{name}", "needs a value"))
                continue
            why = parameter.check(value)
            if why:
                problems.append(ManifestProblem(f"parameters.{name}", f"{value!r} {why}"))
            values[name] = value
        if problems:
            raise ParameterError(problems)
        return values

    def to_json(self) -> str:
        """The manifest as JSON (by field alias: a selector's ``in``)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


def cross_field_problems(manifest: AppManifest) -> list[ManifestProblem]:
    """Return every rule between fields that ``manifest`` breaks (empty: none).

    The rules: the id starts with the vendor's slug; inputs fit the deployment targets
    (DICOM inputs run at the edge, pooled inputs in the cloud) and every target has an
    input; the data scopes cover the inputs and DICOM results; names are unique.
    """
    m = manifest
    problems: list[ManifestProblem] = []

    def problem(location: str, message: str) -> None:
        problems.append(ManifestProblem(location, message))

    if not m.id.startswith(f"{m.vendor}."):
        problem("id", f"an app id starts with its vendor: {m.vendor}.<name>")
    targets = set(m.deployment)
    if len(targets) != len(m.deployment):
        problem("deployment", "targets repeat")
    scopes = set(m.data_scopes)
    for i, spec in enumerate(m.inputs):
        if isinstance(spec, DicomInput) and DeploymentTarget.EDGE not in targets:
            problem(f"inputs.{i}", "a DICOM input needs the edge deployment target")
        if isinstance(spec, PooledInput) and DeploymentTarget.CLOUD not in targets:
            problem(f"inputs.{i}", "a pooled input needs the cloud deployment target")
    if DeploymentTarget.EDGE in targets and not m.dicom_inputs:
        problem("inputs", "an edge app has at least one DICOM input")
    if DeploymentTarget.CLOUD in targets and not m.pooled_inputs:
        problem("inputs", "a cloud app has at least one pooled input")
    if m.dicom_inputs and DataScope.EDGE_IMAGES not in scopes:
        problem("data_scopes", "DICOM inputs need the edge:images scope")
    pooled_scopes = {DataScope.POOLED_STUDIES, DataScope.POOLED_DOSE, DataScope.POOLED_USAGE}
    if m.pooled_inputs and not scopes & pooled_scopes:
        problem("data_scopes", "pooled inputs need a pooled:* scope")
    dicom_out = {OutputKind.DICOM_SR, OutputKind.DICOM_OBJECT}
    if (
        DeploymentTarget.EDGE in targets
        and any(o.kind in dicom_out for o in m.outputs)
        and DataScope.EDGE_PACS_WRITE not in scopes
    ):
        problem("data_scopes", "DICOM outputs at the edge need the edge:pacs-write scope")
    for field, names in (
        ("inputs", [i.name for i in m.inputs]),
        ("outputs", [o.name for o in m.outputs]),
        ("parameters", [p.name for p in m.parameters]),
    ):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problem(field, f"names repeat: {', '.join(repeated)}")
    return problems


def validate_manifest(data: bytes | str | Mapping[str, Any]) -> AppManifest:
    """Return the manifest in ``data`` (JSON text or a parsed mapping), or raise
    :class:`ManifestError` listing every problem with its location."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError([ManifestProblem("", f"not JSON: {exc}")]) from None
    if not isinstance(data, Mapping):
        raise ManifestError([ManifestProblem("", "a manifest is a JSON object")])
    try:
        manifest = AppManifest.model_validate(data, context={"defer_cross_checks": True})
    except ValidationError as exc:
        raise ManifestError(_problems_of(exc.errors())) from None
    problems = cross_field_problems(manifest)
    if problems:
        raise ManifestError(problems)
    return manifest


def _problems_of(errors: Sequence[Any]) -> list[ManifestProblem]:
    problems = []
    for error in errors:
        # pydantic puts the union member's tag in the location ("inputs.0.dicom.selectors"):
        # drop it, so locations are paths into the document
        location = ".".join(str(p) for p in error["loc"] if p not in ("dicom", "pooled"))
        problems.append(ManifestProblem(location, str(error["msg"]).removeprefix("Value error, ")))
    # a list whose items failed is also reported "too short" (its valid items are fewer
    # than its minimum): that is the items' fault, said once, at the items
    return [
        p
        for p, e in zip(problems, errors, strict=True)
        if not (
            e["type"] == "too_short"
            and any(q.location.startswith(f"{p.location}.") for q in problems)
        )
    ]


def manifest_json_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12), as the hub publishes it."""
    schema = AppManifest.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


_VERSION_PARTS: Final = re.compile(
    r"^(\d+)\.(\d+)\.(\d+)(?:(a|b|rc)(\d+))?(?:\.post(\d+))?(?:\.dev(\d+))?$"
)
_PRE_RANK: Final = {"a": 0, "b": 1, "rc": 2, None: 3}


def version_key(version: str) -> tuple[int, ...]:
    """A sort key for :data:`Version` strings in PEP 440 order (``1.0.0rc1 < 1.0.0``)."""
    found = _VERSION_PARTS.match(version)
    if found is None:
        raise ValueError(f"not a release version: {version!r}")
    major, minor, micro, pre, pre_n, post, dev = found.groups()
    # a bare dev release (1.2.0.dev3) comes before every pre-release of its version
    pre_rank = -1 if dev is not None and pre is None and post is None else _PRE_RANK[pre]
    return (
        int(major),
        int(minor),
        int(micro),
        pre_rank,
        int(pre_n or 0),
        int(post or -1) if post is not None else -1,
        int(dev) if dev is not None else 1 << 30,
    )
