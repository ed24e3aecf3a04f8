"""medcoop: a cooperative digital-health platform for medical imaging.

Edge nodes inside hospitals extract radiation dose and utilization facts from DICOM,
de-identify them (DICOM PS3.15 Annex E) and deliver records to a multi-tenant hub
for dose monitoring, utilization analytics and peer benchmarks.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
