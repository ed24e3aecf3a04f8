"""Burned-in annotation: decide which objects may carry text in their pixels, clean them.

An object is *suspect* when it has pixel data and either declares Burned In Annotation
(0028,0301) ``YES``, or is a Secondary Capture (screenshots: text is the rule) without an
explicit ``NO``. Encapsulated documents (PDF, CDA, STL...) are always withheld: their
content cannot be cleaned or scanned reliably. A suspect object is withheld unless a
:class:`~medcoop.deid.profile.PixelRule` for its device and matrix exists; then the rule's
rectangles are blanked with numpy (Clean Pixel Data, 113101).
"""

from __future__ import annotations

import numpy as np
from pydicom import Dataset
from pydicom.uid import UID

from medcoop.deid.profile import PixelRule

__all__ = [
    "SECONDARY_CAPTURE_CLASSES",
    "apply_pixel_rule",
    "blank_rectangles",
    "burned_in_reason",
    "burned_in_reason_for",
    "find_rule",
    "find_rule_for",
]

SECONDARY_CAPTURE_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.5.1.4.1.1.7.1",
        "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3",
        "1.2.840.10008.5.1.4.1.1.7.4",
    }
)
_ENCAPSULATED_PREFIX = "1.2.840.10008.5.1.4.1.1.104."
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def burned_in_reason(ds: Dataset) -> str | None:
    """Return why ``ds`` may carry identifying pixels or content, or ``None`` if it may not."""
    return burned_in_reason_for(
        str(ds.get("SOPClassUID", "")),
        any(keyword in ds for keyword in _PIXEL_KEYWORDS),
        str(ds.get("BurnedInAnnotation", "")),
    )


def burned_in_reason_for(sop_class: str, has_pixels: bool, burned_in: str) -> str | None:
    """:func:`burned_in_reason` from the values: SOP class, any pixel data, (0028,0301)."""
    if sop_class.startswith(_ENCAPSULATED_PREFIX):
        return "encapsulated document (content cannot be cleaned)"
    if not has_pixels:
        return None
    declared = burned_in.strip().upper()
    if declared == "YES":
        return "burned-in annotation declared (0028,0301)"
    if sop_class in SECONDARY_CAPTURE_CLASSES and declared != "NO":
        return "secondary capture without Burned In Annotation = NO"
    return None


def find_rule(ds: Dataset, rules: tuple[PixelRule, ...]) -> PixelRule | None:
    """Return the pixel-cleaning rule for this object's device and matrix, if any."""
    manufacturer = str(ds.get("Manufacturer", ""))
    model = str(ds.get("ManufacturerModelName", ""))
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    return find_rule_for(rules, manufacturer, model, rows, columns)


def find_rule_for(
    rules: tuple[PixelRule, ...], manufacturer: str, model: str, rows: int, columns: int
) -> PixelRule | None:
    """:func:`find_rule` from the values of (0008,0070), (0008,1090), Rows and Columns."""
    for rule in rules:
        if rule.matches(manufacturer, model, rows, columns):
            return rule
    return None


def blank_rectangles(
    pixels: bytes,
    rule: PixelRule,
    *,
    frames: int,
    samples: int,
    bits_allocated: int,
    planar: int,
    photometric: str,
) -> bytes | str:
    """Return native (uncompressed) ``pixels`` with the rule's rectangles set to zero.

    Works on the bytes: a zero sample is zero bytes in every byte order and sign, so
    nothing is decoded. Returns why not (a string) for layouts it does not clean:
    planar colour, subsampled YBR, bit-packed or short pixel data.
    """
    if samples > 1 and planar == 1:
        return "burned-in annotation in planar-configured colour pixels (not cleaned)"
    interpretation = photometric.strip().upper()
    if bits_allocated <= 0 or bits_allocated % 8 or interpretation.endswith(("_422", "_420")):
        return "burned-in annotation, pixel data unreadable (layout not cleaned)"
    per_pixel = samples * bits_allocated // 8
    size = frames * rule.rows * rule.columns * per_pixel
    if frames < 1 or len(pixels) < size:
        return "burned-in annotation, pixel data unreadable (too short)"
    array = np.frombuffer(pixels, dtype=np.uint8, count=size).copy()
    shaped = array.reshape(frames, rule.rows, rule.columns, per_pixel)
    for x0, y0, x1, y1 in rule.rectangles:
        shaped[:, y0:y1, x0:x1, :] = 0
    return shaped.tobytes() + pixels[size:]


def apply_pixel_rule(ds: Dataset, rule: PixelRule) -> str | None:
    """Blank the rule's rectangles in ``ds``'s pixel data in place.

    Returns
    -------
    str or None
        ``None`` when cleaned, else why it could not be (compressed or unreadable pixels).
    """
    meta = getattr(ds, "file_meta", None)
    syntax = UID(str(meta.get("TransferSyntaxUID", ""))) if meta is not None else UID("")
    if syntax and syntax.is_compressed:
        return "burned-in annotation in compressed pixel data (not cleaned)"
    try:
        pixels = ds.pixel_array.copy()
    except Exception as exc:  # any decoder failure: the object must not leave
        return f"burned-in annotation, pixel data unreadable ({type(exc).__name__})"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    for x0, y0, x1, y1 in rule.rectangles:
        if frames > 1:
            pixels[:, y0:y1, x0:x1, ...] = 0
        else:
            pixels[y0:y1, x0:x1, ...] = 0
    if samples > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        return "burned-in annotation in planar-configured colour pixels (not cleaned)"
    ds.PixelData = pixels.tobytes()
    ds.BurnedInAnnotation = "NO"
    return None
