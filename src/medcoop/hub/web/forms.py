"""Reading the dashboard's query strings and forms: empty fields mean "any".

Plain HTML forms send every field, empty ones as ``""``; the models here drop those
before validating, so a blank filter is no filter, and a wrong value becomes a 400 page
naming the field (:class:`~medcoop.hub.web.routing.PageRoute`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medcoop.hub.services.analytics import SORTABLE, TableFilter

__all__ = ["DoseFilters", "parse_query"]

_SORTS = tuple(SORTABLE) + tuple(f"-{c}" for c in SORTABLE)
Sort = Literal[_SORTS]  # type: ignore[valid-type]


class DoseFilters(BaseModel):
    """The dose pages' filters (all optional; ranges inclusive, days in UTC)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    site_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    modality: Annotated[str | None, Field(max_length=16)] = None
    exam_type: Annotated[str | None, Field(max_length=64)] = None
    protocol: Annotated[str | None, Field(max_length=128)] = None
    from_day: date | None = None
    to_day: date | None = None
    min_age_years: Annotated[float | None, Field(ge=0, le=150)] = None
    max_age_years: Annotated[float | None, Field(ge=0, le=150)] = None
    min_diameter_cm: Annotated[float | None, Field(ge=0, le=100)] = None
    max_diameter_cm: Annotated[float | None, Field(ge=0, le=100)] = None
    min_weight_kg: Annotated[float | None, Field(ge=0, le=700)] = None
    max_weight_kg: Annotated[float | None, Field(ge=0, le=700)] = None
    sort: Sort = "-study_at"
    cursor: Annotated[str | None, Field(max_length=400)] = None
    metric: Literal["dlp", "dap"] = "dlp"

    @model_validator(mode="after")
    def _ordered(self) -> DoseFilters:
        pairs = (
            ("from_day", "to_day"),
            ("min_age_years", "max_age_years"),
            ("min_diameter_cm", "max_diameter_cm"),
            ("min_weight_kg", "max_weight_kg"),
        )
        for low, high in pairs:
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} must not be after {high}")
        return self

    def table(self) -> TableFilter:
        """The service's filter (days become UTC instants, the last day included)."""
        from_at = datetime.combine(self.from_day, time(), tzinfo=UTC) if self.from_day else None
        to_at = (
            datetime.combine(self.to_day + timedelta(days=1), time(), tzinfo=UTC)
            if self.to_day
            else None
        )
        return TableFilter(
            site_id=self.site_id,
            device_id=self.device_id,
            modality=self.modality,
            exam_type=self.exam_type,
            protocol=self.protocol,
            from_at=from_at,
            to_at=to_at,
            min_age_years=self.min_age_years,
            max_age_years=self.max_age_years,
            min_diameter_cm=self.min_diameter_cm,
            max_diameter_cm=self.max_diameter_cm,
            min_weight_kg=self.min_weight_kg,
            max_weight_kg=self.max_weight_kg,
        )

    def query(self, **changes: str | None) -> str:
        """This filter set as a query string, with ``changes`` applied (``None`` drops)."""
        values = {
            k: (v.isoformat() if isinstance(v, date) else str(v))
            for k, v in self.model_dump().items()
            if v is not None and k != "cursor"
        }
        for k, v in changes.items():
            if v is None:
                values.pop(k, None)
            else:
                values[k] = v
        return urlencode(values)


M = TypeVar("M", bound=BaseModel)


def parse_query(request: Request, model: type[M]) -> M:
    """Validate ``request``'s query string as ``model``, blanks dropped (400 when wrong)."""
    values = {k: v.strip() for k, v in request.query_params.items() if v.strip() != ""}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc
