"""Burned-in annotation: decide which objects may carry text in their pixels, clean them.

An object is *suspect* when it has pixel data and declares Burned In Annotation (0028,0301)
``YES``, or is a Secondary Capture, a Visible Light photograph or video, an ultrasound
image or a screen save (Image Type ``SCREEN SAVE``, ``DOSE INFO``...): there text is the rule
and the declaration is rarely made, so it is not trusted. Encapsulated documents (PDF,
CDA, STL...) are always withheld: their content cannot be cleaned or scanned reliably.
A suspect object is withheld unless a
:class:`~medcoop.deid.profile.PixelRule` for its device and matrix exists; then the rule's
rectangles are blanked with numpy (Clean Pixel Data, 113101).
"""

from __future__ import annotations

import numpy as np

from medcoop.deid.profile import PixelRule

__all__ = [
    "SECONDARY_CAPTURE_CLASSES",
    "blank_rectangles",
    "burned_in_reason_for",
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
#: Classes whose pixels are photographs, video or screens, where text is the rule and Burned
#: In Annotation is rarely set: Secondary Capture, Visible Light (photographs, endoscopy,
#: microscopy, video), ultrasound (single and multi-frame, the retired classes too).
_RENDERED_PREFIXES = (
    ("1.2.840.10008.5.1.4.1.1.7", "secondary capture"),
    ("1.2.840.10008.5.1.4.1.1.77.", "visible-light photograph or video"),
    ("1.2.840.10008.5.1.4.1.1.6.", "ultrasound"),
    ("1.2.840.10008.5.1.4.1.1.3.", "ultrasound"),
)
#: Image Type terms of screens rendered by the device (dose screens, screenshots).
_SCREEN_TERMS = frozenset(
    {"SCREEN SAVE", "SCREENSAVE", "SCREEN_SAVE", "SCREENSHOT", "DOSE INFO", "DOSE_INFO"}
    | {"DOSE REPORT", "DOSE_REPORT", "DOSE SCREEN"}
)


def burned_in_reason_for(
    sop_class: str, has_pixels: bool, burned_in: str, image_type: tuple[str, ...] = ()
) -> str | None:
    """Return why an object may carry identifying pixels or content, or ``None`` if it may not.

    From the values: SOP class, any pixel data, (0028,0301) and the terms of (0008,0008).
    Documents are always withheld; photographs, video, ultrasound, secondary captures and
    screen saves whatever Burned In Annotation says (devices rarely set it on them);
    other images when they declare burned-in annotation.
    """
    if sop_class.startswith(_ENCAPSULATED_PREFIX):
        return "encapsulated document (content cannot be cleaned)"
    if not has_pixels:
        return None
    for prefix, kind in _RENDERED_PREFIXES:
        within = prefix if prefix.endswith(".") else prefix + "."
        if sop_class == prefix or sop_class.startswith(within):
            return f"{kind}: rendered text expected in the pixels"
    if _SCREEN_TERMS.intersection(term.strip().upper() for term in image_type):
        return "screen save (Image Type): rendered text expected in the pixels"
    if burned_in.strip().upper() == "YES":
        return "burned-in annotation declared (0028,0301)"
    return None


def find_rule_for(
    rules: tuple[PixelRule, ...], manufacturer: str, model: str, rows: int, columns: int
) -> PixelRule | None:
    """Return the pixel-cleaning rule for an object's device and matrix, if any.

    From the values of (0008,0070), (0008,1090), Rows and Columns.
    """
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
