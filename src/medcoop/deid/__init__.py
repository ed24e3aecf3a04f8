"""De-identification: DICOM PS3.15 Annex E, keyed pseudonyms, residual-identifier scan.

Pure code: no network, no database. The edge calls it before anything leaves::

    deid = Deidentifier(key=site_key, profile=load_profile("dose-monitoring"))
    outcome = deid.deidentify(ds)  # Deidentified(dataset, payload, ...) | Withheld(reason)
    outcome = deid.deidentify_bytes(data)  # the same from a file's bytes (no dcmread)
    hits = verify_no_residuals(identifying_values(ds), outcome.payload)
"""

from medcoop.deid.engine import Deidentified, Deidentifier, Withheld
from medcoop.deid.profile import PROFILES, PixelRule, Profile, load_profile
from medcoop.deid.pseudonym import SiteKey, load_or_create_key
from medcoop.deid.residuals import (
    ResidualHit,
    clean_text,
    identifying_values,
    verify_no_residuals,
)

__all__ = [
    "PROFILES",
    "Deidentified",
    "Deidentifier",
    "PixelRule",
    "Profile",
    "ResidualHit",
    "SiteKey",
    "Withheld",
    "clean_text",
    "identifying_values",
    "load_or_create_key",
    "load_profile",
    "verify_no_residuals",
]
