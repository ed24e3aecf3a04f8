"""Synthetic people: patients (with the identifiers privacy tests look for) and staff.

Every name, ID, address and phone number here is invented from small word lists and a
seeded ``random.Random``; phone numbers use the ranges reserved for drama (e.g. 020 7946 0xxx).
Some names are non-ASCII (``Müller^Zoë``) so that character-set handling is exercised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from medcoop.records import Sex

__all__ = [
    "DEMOGRAPHICS",
    "Demographics",
    "PlantedPatient",
    "Staff",
    "make_patient",
    "make_staff",
    "name_parts",
]

FAMILY_NAMES = (
    "Müller", "Okonkwo", "Lindqvist", "Fernández", "Nakamura", "Abernathy", "Kowalczyk",
    "Østergaard", "Dubois", "Papadopoulos", "Haddad", "Ferreira", "Nguyen", "Whitcombe",
    "Brannigan", "Castellano", "Järvinen", "Mbeki", "Petrović", "Thornbury", "Vasquez",
    "Zielinski", "Ashworth", "Bergström", "Çelik", "Delacroix", "Eriksen", "Gallagher",
    "Hoffmann", "Iwasaki", "Kavanagh", "Larsen", "Moreau", "Novak", "O'Donnell", "Quigley",
)  # fmt: skip
_GIVEN_F = (
    "Zoë", "Amélie", "Priya", "Margaret", "Ingrid", "Chiamaka", "Sofía", "Yuki", "Hannah",
    "Aoife", "Małgorzata", "Fatima", "Eleanor", "Brigitte", "Noémie", "Roisin",
)  # fmt: skip
_GIVEN_M = (
    "Søren", "José", "Björn", "Oluwaseun", "Thomas", "Rajesh", "Kenji", "Declan", "François",
    "Mateusz", "Ahmed", "Laurence", "Gregor", "Tobias", "Emeka", "Anders",
)  # fmt: skip
_STREETS = (
    "Harbour Road", "Mill Lane", "Kestrel Close", "Orchard Way", "Station Street",
    "Linden Avenue", "Quarry Hill", "Rosemary Gardens", "Tannery Row", "Weaver's Court",
)  # fmt: skip
_TOWNS = ("Northfield", "Ashbury", "Millbrook", "Eastwick", "Fairhaven", "Glenmoor")


@dataclass(frozen=True, slots=True)
class Demographics:
    """Who a kind of device examines: the share of women and a triangular age law (years)."""

    female_fraction: float
    min_age_years: float
    max_age_years: float
    mode_age_years: float

    def admits(self, patient: PlantedPatient, day: date) -> bool:
        """Whether ``patient`` could be examined so on ``day`` (a revisit must fit too)."""
        if self.female_fraction >= 1.0 and patient.sex is not Sex.FEMALE:
            return False
        return self.min_age_years <= patient.age_years_at(day) <= self.max_age_years + 1


#: The general imaging population (most patients are older; a few are children).
GENERAL = Demographics(0.52, 0.5, 98.0, 68.0)
#: Per device kind, where it differs: mammography examines women, screening ages 47–73
#: (UK NHS) within a diagnostic range of 35–90.
DEMOGRAPHICS: dict[str, Demographics] = {"mg": Demographics(1.0, 35.0, 90.0, 58.0)}


@dataclass(frozen=True, slots=True)
class PlantedPatient:
    """One synthetic patient and every identifier planted for them."""

    patient_id: str
    issuer_of_patient_id: str
    name: str  # DICOM PN form, Family^Given
    birth_date: date
    sex: Sex
    address: str
    phone: str
    other_patient_ids: tuple[str, ...]
    height_m: float
    weight_kg: float

    @property
    def birth_date_da(self) -> str:
        """The birth date in DICOM DA form (``YYYYMMDD``)."""
        return self.birth_date.strftime("%Y%m%d")

    @property
    def is_ascii(self) -> bool:
        """Whether every identifier is plain ASCII (no ISO_IR 192 needed)."""
        return self.name.isascii() and self.address.isascii()

    def age_years_at(self, day: date) -> int:
        """Whole years of age on ``day``."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)

    def identifying_values(self, *, other_ids: bool = True) -> set[str]:
        """Every identifying string of this patient (``other_ids``: with Other Patient IDs)."""
        values = {self.patient_id, self.name, self.birth_date_da, self.address, self.phone}
        if other_ids:
            values.update(self.other_patient_ids)
        values.update(name_parts(self.name))
        return values


@dataclass(frozen=True, slots=True)
class Staff:
    """The people around a study: identifying too (staff names leave the edge never)."""

    referring_physician: str
    performing_physician: str
    operator: str
    extras: tuple[str, ...] = field(default=())

    def identifying_values(self) -> set[str]:
        """Every staff name, in PN form and as its parts."""
        values: set[str] = set()
        for name in (self.referring_physician, self.performing_physician, self.operator):
            values.add(name)
            values.update(name_parts(name))
        return values


def name_parts(name: str) -> set[str]:
    """Return the components of a PN value long enough to search for without false hits."""
    parts = name.replace("=", "^").split("^")
    return {part for part in parts if len(part) >= 3 and part not in {"Dr", "Mr", "Mrs", "Ms"}}


def make_patient(
    rng: random.Random,
    *,
    site_prefix: str,
    study_day: date,
    demographics: Demographics = GENERAL,
) -> PlantedPatient:
    """Return a new synthetic patient of realistic age, sex and size for ``study_day``.

    ``demographics`` says who the examining device sees (mammography: women of 35–90).
    The same random draws are made whatever it says, so one kind's law never shifts
    another's patients.
    """
    law = demographics
    sex = Sex.FEMALE if rng.random() < law.female_fraction else Sex.MALE
    given = rng.choice(_GIVEN_F if sex is Sex.FEMALE else _GIVEN_M)
    if law is GENERAL:
        age_years = rng.triangular(1, 95, 68)
    else:
        age_years = rng.triangular(law.min_age_years, law.max_age_years, law.mode_age_years)
    age_days = int(max(law.min_age_years, min(law.max_age_years, age_years)) * 365.25)
    birth_date = study_day - timedelta(days=age_days + rng.randrange(0, 365))
    height_m, weight_kg = _size(rng, sex, age_days / 365.25)
    number = rng.randrange(1_000_000, 9_999_999)
    return PlantedPatient(
        patient_id=f"{site_prefix}{number}",
        issuer_of_patient_id=f"{site_prefix}-MRN",
        name=f"{rng.choice(FAMILY_NAMES)}^{given}",
        birth_date=birth_date,
        sex=sex,
        address=(
            f"{rng.randrange(1, 240)} {rng.choice(_STREETS)}, {rng.choice(_TOWNS)} "
            f"{rng.choice('ABCDEFGH')}{rng.choice('KLMNPR')}{rng.randrange(1, 20)} "
            f"{rng.randrange(1, 9)}{rng.choice('QTWXYZ')}{rng.choice('ABDEFG')}"
        ),
        phone=f"020 7946 0{rng.randrange(0, 1000):03d}",
        other_patient_ids=(
            f"{rng.randrange(100, 999)} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
        ),
        height_m=height_m,
        weight_kg=weight_kg,
    )


def _size(rng: random.Random, sex: Sex, age_years: float) -> tuple[float, float]:
    if age_years < 18:
        height_m = 0.5 + 1.15 * min(age_years, 17) / 17 + rng.gauss(0, 0.05)
        bmi = 16 + 5 * min(age_years, 17) / 17 + rng.gauss(0, 1.5)
    else:
        height_m = rng.gauss(1.63 if sex is Sex.FEMALE else 1.77, 0.07)
        bmi = rng.lognormvariate(3.28, 0.16)  # median ≈ 26.6 kg/m²
    height_m = round(max(0.45, height_m), 2)
    weight_kg = round(max(3.0, bmi * height_m * height_m), 1)
    return height_m, weight_kg


def make_staff(rng: random.Random, pool: tuple[str, ...]) -> Staff:
    """Return the referring/performing physicians and operator, drawn from a site's ``pool``."""
    referring, performing, operator = rng.sample(pool, 3)
    return Staff(referring, performing, operator)


def staff_pool(rng: random.Random, size: int) -> tuple[str, ...]:
    """Return ``size`` distinct staff names in PN form (``Family^Given^^Dr`` for some)."""
    names: set[str] = set()
    while len(names) < size:
        family = rng.choice(FAMILY_NAMES)
        given = rng.choice(_GIVEN_F + _GIVEN_M)
        names.add(f"{family}^{given}" + ("^^Dr" if rng.random() < 0.4 else ""))
    return tuple(sorted(names))
