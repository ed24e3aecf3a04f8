"""Helpers for the sim tests: a minimal SR walker (by code value, never by meaning)."""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataset import Dataset

from medcoop.sim import SimStudy


def concept(item: Dataset) -> str:
    """Return ``scheme:value`` of an item's concept name."""
    code = item.ConceptNameCodeSequence[0]
    return f"{code.CodingSchemeDesignator}:{code.CodeValue}"


def walk(node: Dataset) -> Iterator[Dataset]:
    """Yield every content item below ``node``, depth first."""
    for item in node.get("ContentSequence", []):
        yield item
        yield from walk(item)


def children(node: Dataset, code: str) -> list[Dataset]:
    """Return ``node``'s direct children whose concept is ``code`` (``scheme:value``)."""
    return [item for item in node.get("ContentSequence", []) if concept(item) == code]


def child(node: Dataset, code: str) -> Dataset:
    """Return the one direct child of ``node`` with concept ``code``."""
    found = children(node, code)
    assert len(found) == 1, f"expected one {code}, found {len(found)}"
    return found[0]


def num(item: Dataset) -> tuple[float, str]:
    """Return a NUM item's value and its UCUM unit code value."""
    measured = item.MeasuredValueSequence[0]
    return float(measured.NumericValue), measured.MeasurementUnitsCodeSequence[0].CodeValue


def num_child(node: Dataset, code: str) -> tuple[float, str]:
    """Return value and unit of the one NUM child of ``node`` with concept ``code``."""
    return num(child(node, code))


def code_value(item: Dataset) -> str:
    """Return ``scheme:value`` of a CODE item's value."""
    code = item.ConceptCodeSequence[0]
    return f"{code.CodingSchemeDesignator}:{code.CodeValue}"


def pick(studies: list[SimStudy], **wanted: object) -> list[SimStudy]:
    """Return the studies whose device has every attribute in ``wanted``."""
    return [s for s in studies if all(getattr(s.device, k) == v for k, v in wanted.items())]
