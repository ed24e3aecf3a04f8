"""De-identification: DICOM PS3.15 Annex E, keyed pseudonyms, residual-identifier scan.

Pure code: no network, no database. The edge calls it before anything leaves.
"""

from medcoop.deid.residuals import (
    ResidualHit,
    clean_text,
    identifying_values,
    verify_no_residuals,
)

__all__ = [
    "ResidualHit",
    "clean_text",
    "identifying_values",
    "verify_no_residuals",
]
