"""De-identification profiles: the Annex E options a privacy officer switches on or off.

A :class:`Profile` is frozen configuration data. Named profiles (:data:`PROFILES`) are
documented in ``docs/deid.md``; a site may override any option with
``load_profile(name, overrides={...})``. Each option maps to its column of PS3.15
Table E.1-1 and to its CID 7050 code, written in (0012,0064).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "OPTION_CODES",
    "OPTION_COLUMNS",
    "PROFILES",
    "PixelRule",
    "Profile",
    "load_profile",
]

#: Profile option → column of Table E.1-1 (the standard's print order).
OPTION_COLUMNS: dict[str, str] = {
    "retain_safe_private": "rtnSafePrivOpt",
    "retain_uids": "rtnUIDsOpt",
    "retain_device_identity": "rtnDevIdOpt",
    "retain_institution_identity": "rtnInstIdOpt",
    "retain_patient_characteristics": "rtnPatCharsOpt",
    "retain_long_full_dates": "rtnLongFullDatesOpt",
    "retain_long_modified_dates": "rtnLongModifDatesOpt",
    "clean_descriptors": "cleanDescOpt",
    "clean_structured_content": "cleanStructContOpt",
    "clean_graphics": "cleanGraphOpt",
}

#: CID 7050 De-identification Method codes (DCM scheme): profile and options.
OPTION_CODES: dict[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_pixel_data": ("113101", "Clean Pixel Data Option"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_long_full_dates": (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    "retain_long_modified_dates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_identity": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
}


#: Free text that Clean Descriptors would clean but dose and utilization pooling never
#: reads: removed (the Basic Profile's own action for each) when a profile sets
#: ``remove_unneeded``. Study and series descriptions, protocol names, code meanings and
#: SR text stay (cleaned): they are the analytics' grouping keys and the dose content.
NOT_NEEDED_FOR_POOLING: frozenset[int] = frozenset(
    {
        0x00104000,  # Patient Comments
        0x001021B0,  # Additional Patient History
        0x00102000,  # Medical Alerts
        0x00102110,  # Allergies
        0x00102180,  # Occupation
        0x00380500,  # Patient State
        0x00384000,  # Visit Comments
        0x00324000,  # Study Comments
        0x00204000,  # Image Comments
        0x00209158,  # Frame Comments
        0x00184000,  # Acquisition Comments
        0x00081080,  # Admitting Diagnoses Description
        0x00081084,  # Admitting Diagnoses Code Sequence
        0x00401002,  # Reason for the Requested Procedure
        0x0040100A,  # Reason for Requested Procedure Code Sequence
        0x00401400,  # Requested Procedure Comments
        0x00402400,  # Imaging Service Request Comments
        0x00400280,  # Comments on the Performed Procedure Step
        0x00403001,  # Confidentiality Constraint on Patient Data Description
        0x00321030,  # Reason for Study
        0x00321066,  # Reason for Visit
        0x00321067,  # Reason for Visit Code Sequence
    }
)


@dataclass(frozen=True, slots=True)
class PixelRule:
    """Where one device burns text into its images, so the pixels can be cleaned.

    Attributes
    ----------
    manufacturer, model : str
        Matched case-insensitively against (0008,0070) and (0008,1090).
    rows, columns : int
        The image matrix the rectangles apply to.
    rectangles : tuple of (x0, y0, x1, y1)
        Pixel rectangles to blank, end-exclusive, in column (x) and row (y) coordinates.
    """

    manufacturer: str
    model: str
    rows: int
    columns: int
    rectangles: tuple[tuple[int, int, int, int], ...]

    def __post_init__(self) -> None:
        for x0, y0, x1, y1 in self.rectangles:
            if not (0 <= x0 < x1 <= self.columns and 0 <= y0 < y1 <= self.rows):
                raise ValueError(f"rectangle {(x0, y0, x1, y1)} lies outside the image")

    def matches(self, manufacturer: str, model: str, rows: int, columns: int) -> bool:
        """Return whether this rule applies to an image of that device and matrix."""
        return (
            self.manufacturer.casefold() == manufacturer.strip().casefold()
            and self.model.casefold() == model.strip().casefold()
            and (self.rows, self.columns) == (rows, columns)
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """Which PS3.15 Annex E options apply (the Basic Profile is always applied)."""

    name: str
    retain_safe_private: bool = False
    retain_uids: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_patient_characteristics: bool = False
    retain_long_full_dates: bool = False
    retain_long_modified_dates: bool = False
    clean_descriptors: bool = False
    clean_structured_content: bool = False
    clean_graphics: bool = False
    #: Remove :data:`NOT_NEEDED_FOR_POOLING` instead of cleaning it.
    remove_unneeded: bool = False
    pixel_rules: tuple[PixelRule, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.retain_long_full_dates and self.retain_long_modified_dates:
            raise ValueError(
                "retain_long_full_dates and retain_long_modified_dates exclude each other"
            )

    @property
    def enabled_options(self) -> tuple[str, ...]:
        """The enabled options, in the standard's column order."""
        return tuple(option for option in OPTION_COLUMNS if getattr(self, option))

    def method_codes(self, *, pixels_cleaned: bool = False) -> list[tuple[str, str]]:
        """Return the CID 7050 ``(code value, meaning)`` pairs this profile applies."""
        names = ["basic", *self.enabled_options]
        if pixels_cleaned:
            names.insert(1, "clean_pixel_data")
        return [OPTION_CODES[name] for name in names]


PROFILES: dict[str, Profile] = {
    "basic": Profile(name="basic"),
    "dose-monitoring": Profile(
        name="dose-monitoring",
        retain_safe_private=True,
        retain_device_identity=True,
        retain_patient_characteristics=True,
        retain_long_full_dates=True,
        clean_descriptors=True,
        clean_structured_content=True,
        remove_unneeded=True,
    ),
    "research-longitudinal": Profile(
        name="research-longitudinal",
        retain_patient_characteristics=True,
        retain_long_modified_dates=True,
        clean_descriptors=True,
        clean_structured_content=True,
    ),
}


def load_profile(
    name: str = "dose-monitoring", overrides: Mapping[str, Any] | None = None
) -> Profile:
    """Return the named profile with a site's overrides applied.

    Parameters
    ----------
    name : str
        One of :data:`PROFILES` (``basic``, ``dose-monitoring``, ``research-longitudinal``).
    overrides : mapping, optional
        Option name → value, e.g. ``{"retain_uids": True}``; ``pixel_rules`` takes
        :class:`PixelRule` objects or dicts of their fields.

    Raises
    ------
    ValueError
        For an unknown profile or option, a non-boolean option value, or options that
        exclude each other.
    """
    try:
        profile = PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown de-identification profile {name!r} (known: {known})") from None
    if not overrides:
        return profile
    changes: dict[str, Any] = {}
    for option, value in overrides.items():
        if option == "pixel_rules":
            changes[option] = tuple(
                rule if isinstance(rule, PixelRule) else _pixel_rule(rule) for rule in value
            )
        elif option in OPTION_COLUMNS or option == "remove_unneeded":
            if not isinstance(value, bool):
                raise ValueError(f"option {option} takes true or false, not {value!r}")
            changes[option] = value
        else:
            known = ", ".join([*OPTION_COLUMNS, "remove_unneeded", "pixel_rules"])
            raise ValueError(f"unknown de-identification option {option!r} (known: {known})")
    return dataclasses.replace(profile, **changes)


def _rectangle(values: Any) -> tuple[int, int, int, int]:
    left, top, right, bottom = (int(v) for v in values)  # four numbers, or a ValueError
    return left, top, right, bottom


def _pixel_rule(data: Mapping[str, Any]) -> PixelRule:
    rectangles = tuple(_rectangle(rect) for rect in data["rectangles"])
    return PixelRule(
        manufacturer=str(data["manufacturer"]),
        model=str(data["model"]),
        rows=int(data["rows"]),
        columns=int(data["columns"]),
        rectangles=rectangles,
    )
