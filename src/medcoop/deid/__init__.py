"""De-identification: DICOM PS3.15 Annex E, keyed pseudonyms, residual-identifier scan.

Pure code: no network, no database. The edge calls it before anything leaves.
"""
