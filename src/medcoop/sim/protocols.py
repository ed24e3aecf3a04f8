"""Protocol catalogues per modality, with realistic dose and timing distributions.

Medians follow published national surveys and DRLs in round numbers (CT head CTDIvol ~50 mGy
and DLP ~850 mGy·cm, chest DLP ~300, abdomen-pelvis ~500; chest PA DAP ~0.1 Gy·cm²;
screening mammography ~1.4 mGy AGD per view; FDG ~4 MBq/kg). Doses are log-normal around
the median; ``sigma`` is the log-space standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

from medcoop.sim import codes
from medcoop.sim.codes import Code

__all__ = [
    "CT_PROTOCOLS",
    "DX_PROTOCOLS",
    "MG_PROTOCOLS",
    "NM_PROTOCOLS",
    "PT_PROTOCOLS",
    "RF_PROTOCOLS",
    "CtProtocol",
    "DxProjection",
    "DxProtocol",
    "ExamProtocol",
    "MgProtocol",
    "NmProtocol",
    "RfProtocol",
]


@dataclass(frozen=True, slots=True)
class CtProtocol:
    """A CT examination: one or more spiral/sequenced acquisitions after localizers."""

    name: str
    code: str
    region: Code
    head_phantom: bool
    ctdivol_median_mgy: float
    length_median_mm: float
    acquisitions: tuple[int, int]  # min, max number of diagnostic acquisitions
    weight: float  # relative frequency
    sequenced: bool = False


# fmt: off
CT_PROTOCOLS: tuple[CtProtocol, ...] = (
    CtProtocol("CT Head", "CTHEAD", codes.HEAD, True, 50.0, 170.0, (1, 1), 0.28),
    CtProtocol("CT Chest", "CTCHEST", codes.CHEST, False, 8.0, 340.0, (1, 1), 0.16),
    CtProtocol("CT Abdomen Pelvis", "CTAP", codes.ABDOMEN_AND_PELVIS, False, 11.0, 450.0,
               (1, 2), 0.18),
    CtProtocol("CT Chest Abdomen Pelvis", "CTCAP", codes.CHEST_ABDOMEN_PELVIS, False, 10.0,
               660.0, (1, 2), 0.16),
    CtProtocol("CT Pulmonary Angiogram", "CTPA", codes.CHEST, False, 9.0, 300.0, (1, 1), 0.08),
    CtProtocol("CT KUB", "CTKUB", codes.ABDOMEN_AND_PELVIS, False, 5.0, 420.0, (1, 1), 0.06),
    CtProtocol("CT Coronary Angiogram", "CTCA", codes.HEART, False, 20.0, 130.0, (1, 1), 0.04,
               sequenced=True),
    CtProtocol("CT Abdomen", "CTABDO", codes.ABDOMEN, False, 11.0, 300.0, (1, 3), 0.04),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class DxProjection:
    """One radiographic projection: its region and typical DAP."""

    name: str
    region: Code
    dap_median_gycm2: float
    kvp: float


@dataclass(frozen=True, slots=True)
class DxProtocol:
    """A radiography examination made of projections."""

    name: str
    code: str
    projections: tuple[DxProjection, ...]
    weight: float


_CHEST_PA = DxProjection("Chest PA", codes.CHEST, 0.10, 125)
_CHEST_LAT = DxProjection("Chest LAT", codes.CHEST, 0.30, 125)
_KNEE_AP = DxProjection("Knee AP", codes.KNEE, 0.04, 65)
_KNEE_LAT = DxProjection("Knee LAT", codes.KNEE, 0.04, 63)
_LSPINE_AP = DxProjection("L-Spine AP", codes.LUMBAR_SPINE, 1.0, 80)
_LSPINE_LAT = DxProjection("L-Spine LAT", codes.LUMBAR_SPINE, 1.8, 90)
_PELVIS_AP = DxProjection("Pelvis AP", codes.PELVIS, 1.5, 77)
_ABDOMEN_AP = DxProjection("Abdomen AP", codes.ABDOMEN, 1.8, 77)
_HAND_PA = DxProjection("Hand PA", codes.HAND, 0.02, 55)
_HAND_OBL = DxProjection("Hand OBL", codes.HAND, 0.02, 55)
_SHOULDER_AP = DxProjection("Shoulder AP", codes.SHOULDER, 0.2, 70)

DX_PROTOCOLS: tuple[DxProtocol, ...] = (
    DxProtocol("Chest PA", "XCHEST", (_CHEST_PA,), 0.40),
    DxProtocol("Chest PA and Lateral", "XCHEST2", (_CHEST_PA, _CHEST_LAT), 0.08),
    DxProtocol("Knee", "XKNEE", (_KNEE_AP, _KNEE_LAT), 0.14),
    DxProtocol("Lumbar Spine", "XLSPINE", (_LSPINE_AP, _LSPINE_LAT), 0.08),
    DxProtocol("Pelvis", "XPELVIS", (_PELVIS_AP,), 0.10),
    DxProtocol("Abdomen", "XABDO", (_ABDOMEN_AP,), 0.06),
    DxProtocol("Hand", "XHAND", (_HAND_PA, _HAND_OBL), 0.08),
    DxProtocol("Shoulder", "XSHOULDER", (_SHOULDER_AP,), 0.06),
)


@dataclass(frozen=True, slots=True)
class RfProtocol:
    """A fluoroscopy or interventional procedure."""

    name: str
    code: str
    region: Code
    fluoro_dap_median_gycm2: float
    fluoro_time_median_s: float
    fluoro_events: tuple[int, int]
    acquisitions: tuple[int, int]
    acquisition_dap_median_gycm2: float  # per acquisition run
    weight: float
    biplane_capable: bool = False


# fmt: off
RF_PROTOCOLS: tuple[RfProtocol, ...] = (
    RfProtocol("Barium Swallow", "FBASW", codes.ESOPHAGUS, 4.0, 120.0, (3, 8), (2, 6), 0.8,
               0.35),
    RfProtocol("Barium Enema", "FBAEN", codes.COLON, 8.0, 180.0, (4, 10), (4, 10), 1.5, 0.15),
    RfProtocol("Femoral Angiogram", "AFEM", codes.LOWER_LIMB_ARTERY, 15.0, 300.0, (5, 15),
               (4, 12), 3.0, 0.25),
    RfProtocol("Coronary Angiogram", "ACOR", codes.CORONARY_ARTERY, 12.0, 300.0, (6, 14),
               (6, 12), 1.2, 0.15, biplane_capable=True),
    RfProtocol("Cerebral Angiogram", "ACER", codes.CEREBRAL_ARTERY, 20.0, 600.0, (6, 16),
               (6, 14), 3.5, 0.10, biplane_capable=True),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class MgProtocol:
    """A mammography examination: its views as (laterality, view) pairs."""

    name: str
    code: str
    views: tuple[tuple[str, str], ...]
    weight: float


# fmt: off
MG_PROTOCOLS: tuple[MgProtocol, ...] = (
    MgProtocol("Screening Mammography", "MGSCR",
               (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")), 0.8),
    MgProtocol("Diagnostic Mammography Left", "MGDXL", (("L", "CC"), ("L", "MLO")), 0.1),
    MgProtocol("Diagnostic Mammography Right", "MGDXR", (("R", "CC"), ("R", "MLO")), 0.1),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class NmProtocol:
    """A nuclear medicine or PET examination: one administration."""

    name: str
    code: str
    agent: Code
    radionuclide: Code
    half_life_s: float
    activity_median_mbq: float
    per_kg: bool  # activity scales with weight (MBq/kg)
    effective_dose_msv_per_mbq: float
    weight: float
    duration_min: float = 40.0


_F18 = Code("C-111A1", "SRT", "^18^Fluorine")
_TC99M = Code("C-163A8", "SRT", "^99m^Technetium")

# fmt: off
PT_PROTOCOLS: tuple[NmProtocol, ...] = (
    NmProtocol("PET FDG Whole Body", "PTFDG", Code("C-B1031", "SRT", "Fluorodeoxyglucose F^18^"),
               _F18, 6586.2, 4.0, True, 0.019, 1.0, duration_min=30),
)
# fmt: on

# fmt: off
NM_PROTOCOLS: tuple[NmProtocol, ...] = (
    NmProtocol("NM Bone Scan", "NMBONE", Code("C-B1038", "SRT", "Technetium Tc-99m medronate"),
               _TC99M, 21624.0, 600.0, False, 0.0049, 0.6, duration_min=45),
    NmProtocol("NM Myocardial Perfusion", "NMMPI",
               Code("C-B1048", "SRT", "Technetium Tc-99m tetrofosmin"), _TC99M, 21624.0, 400.0,
               False, 0.0069, 0.4, duration_min=60),
)
# fmt: on


#: Any protocol of the catalogues above.
ExamProtocol = CtProtocol | DxProtocol | RfProtocol | MgProtocol | NmProtocol
