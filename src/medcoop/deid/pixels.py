"""Burned-in annotation: decide which objects may carry text in their pixels, clean them.

An object is *suspect* when it has pixel data and either declares Burned In Annotation
(0028,0301) ``YES``, or is a Secondary Capture (screenshots: text is the rule) without an
explicit ``NO``. Encapsulated documents (PDF, CDA, STL...) are always withheld: their
content cannot be cleaned or scanned reliably. A suspect object is withheld unless a
:class:`~medcoop.deid.profile.PixelRule` for its device and matrix exists; then the rule's
rectangles are blanked with numpy (Clean Pixel Data, 113101).
"""

from __future__ import annotations

from pydicom import Dataset
from pydicom.uid import UID

from medcoop.deid.profile import PixelRule

__all__ = ["SECONDARY_CAPTURE_CLASSES", "apply_pixel_rule", "burned_in_reason", "find_rule"]

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
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class.startswith(_ENCAPSULATED_PREFIX):
        return "encapsulated document (content cannot be cleaned)"
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        return None
    declared = str(ds.get("BurnedInAnnotation", "")).strip().upper()
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
    for rule in rules:
        if rule.matches(manufacturer, model, rows, columns):
            return rule
    return None


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
