"""Standard code triplets and SOP Class UIDs that the synthetic fleet writes.

Every concept the fleet puts in a dose report is a standard code (DCM, SCT/SRT, UCUM), so a
reader that walks code values rather than meanings reads every vendor's report. Vendors differ
only in the spellings they choose around those codes (see :mod:`medcoop.sim.vendors`).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Code", "SopClass"]


class Code(NamedTuple):
    """A coded concept: (CodeValue, CodingSchemeDesignator, CodeMeaning)."""

    value: str
    scheme: str
    meaning: str


class SopClass:
    """SOP Class UIDs of the objects the fleet produces."""

    XRAY_RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
    RADIOPHARMACEUTICAL_RDSR = "1.2.840.10008.5.1.4.1.1.88.68"
    ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
    CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
    CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
    DX_IMAGE_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
    MG_IMAGE_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
    XRF_IMAGE = "1.2.840.10008.5.1.4.1.1.12.2"
    PET_IMAGE = "1.2.840.10008.5.1.4.1.1.128"
    MPPS = "1.2.840.10008.3.1.2.3.3"


# --- document titles and structure (TID 10001, 10011, 10021) -------------------------------
XRAY_DOSE_REPORT = Code("113701", "DCM", "X-Ray Radiation Dose Report")
RADIOPHARMACEUTICAL_DOSE_REPORT = Code("113500", "DCM", "Radiopharmaceutical Radiation Dose Report")
PROCEDURE_REPORTED = Code("121058", "DCM", "Procedure reported")
CT_PROCEDURE = Code("77477000", "SCT", "Computed Tomography X-Ray")
PROJECTION_XRAY = Code("113704", "DCM", "Projection X-Ray")
MAMMOGRAPHY = Code("71651007", "SCT", "Mammography")
OBSERVER_TYPE = Code("121005", "DCM", "Observer Type")
DEVICE = Code("121007", "DCM", "Device")
PERSON = Code("121006", "DCM", "Person")
DEVICE_OBSERVER_UID = Code("121012", "DCM", "Device Observer UID")
DEVICE_OBSERVER_NAME = Code("121013", "DCM", "Device Observer Name")
DEVICE_OBSERVER_MANUFACTURER = Code("121014", "DCM", "Device Observer Manufacturer")
DEVICE_OBSERVER_MODEL = Code("121015", "DCM", "Device Observer Model Name")
DEVICE_OBSERVER_SERIAL = Code("121016", "DCM", "Device Observer Serial Number")
PERSON_OBSERVER_NAME = Code("121008", "DCM", "Person Observer Name")
SCOPE_OF_ACCUMULATION = Code("113705", "DCM", "Scope of Accumulation")
STUDY = Code("113014", "DCM", "Study")
STUDY_INSTANCE_UID = Code("110180", "DCM", "Study Instance UID")
COMMENT = Code("121106", "DCM", "Comment")
SOURCE_OF_DOSE_INFORMATION = Code("113854", "DCM", "Source of Dose Information")
AUTOMATED_DATA_COLLECTION = Code("113856", "DCM", "Automated Data Collection")
START_OF_XRAY_IRRADIATION = Code("113809", "DCM", "Start of X-Ray Irradiation")
END_OF_XRAY_IRRADIATION = Code("113810", "DCM", "End of X-Ray Irradiation")
IRRADIATION_EVENT_UID = Code("113769", "DCM", "Irradiation Event UID")
ACQUISITION_PROTOCOL = Code("125203", "DCM", "Acquisition Protocol")
TARGET_REGION = Code("123014", "DCM", "Target Region")
DATETIME_STARTED = Code("111526", "DCM", "DateTime Started")
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")

# --- CT (TID 10012, 10013, 10014, 10015) ---------------------------------------------------
CT_ACCUMULATED_DOSE_DATA = Code("113811", "DCM", "CT Accumulated Dose Data")
TOTAL_NUMBER_OF_IRRADIATION_EVENTS = Code("113812", "DCM", "Total Number of Irradiation Events")
CT_DLP_TOTAL = Code("113813", "DCM", "CT Dose Length Product Total")
CT_ACQUISITION = Code("113819", "DCM", "CT Acquisition")
CT_ACQUISITION_TYPE = Code("113820", "DCM", "CT Acquisition Type")
SPIRAL_ACQUISITION = Code("116152004", "SCT", "Spiral Acquisition")
SEQUENCED_ACQUISITION = Code("113804", "DCM", "Sequenced Acquisition")
CONSTANT_ANGLE_ACQUISITION = Code("113805", "DCM", "Constant Angle Acquisition")
PROCEDURE_CONTEXT = Code("408730004", "SCT", "Procedure Context")
CT_ACQUISITION_PARAMETERS = Code("113822", "DCM", "CT Acquisition Parameters")
EXPOSURE_TIME = Code("113824", "DCM", "Exposure Time")
SCANNING_LENGTH = Code("113825", "DCM", "Scanning Length")
NOMINAL_SINGLE_COLLIMATION = Code("113826", "DCM", "Nominal Single Collimation Width")
NOMINAL_TOTAL_COLLIMATION = Code("113827", "DCM", "Nominal Total Collimation Width")
PITCH_FACTOR = Code("113828", "DCM", "Pitch Factor")
NUMBER_OF_XRAY_SOURCES = Code("113823", "DCM", "Number of X-Ray Sources")
CT_XRAY_SOURCE_PARAMETERS = Code("113831", "DCM", "CT X-Ray Source Parameters")
IDENTIFICATION_OF_XRAY_SOURCE = Code("113832", "DCM", "Identification of the X-Ray Source")
KVP = Code("113733", "DCM", "KVP")
MAXIMUM_TUBE_CURRENT = Code("113833", "DCM", "Maximum X-Ray Tube Current")
TUBE_CURRENT = Code("113734", "DCM", "X-Ray Tube Current")
EXPOSURE_TIME_PER_ROTATION = Code("113834", "DCM", "Exposure Time per Rotation")
CT_DOSE = Code("113829", "DCM", "CT Dose")
MEAN_CTDIVOL = Code("113830", "DCM", "Mean CTDIvol")
CTDIW_PHANTOM_TYPE = Code("113835", "DCM", "CTDIw Phantom Type")
HEAD_PHANTOM = Code("113690", "DCM", "IEC Head Dosimetry Phantom")
BODY_PHANTOM = Code("113691", "DCM", "IEC Body Dosimetry Phantom")
DLP = Code("113838", "DCM", "DLP")
EFFECTIVE_DOSE = Code("113839", "DCM", "Effective Dose")
DOSE_CHECK_ALERT_DETAILS = Code("113900", "DCM", "Dose Check Alert Details")
DLP_ALERT_VALUE_CONFIGURED = Code("113901", "DCM", "DLP Alert Value Configured")
CTDIVOL_ALERT_VALUE_CONFIGURED = Code("113902", "DCM", "CTDIvol Alert Value Configured")
DLP_ALERT_VALUE = Code("113903", "DCM", "DLP Alert Value")
CTDIVOL_ALERT_VALUE = Code("113904", "DCM", "CTDIvol Alert Value")
ACCUMULATED_DLP_FORWARD_ESTIMATE = Code("113905", "DCM", "Accumulated DLP Forward Estimate")
ACCUMULATED_CTDIVOL_FORWARD_ESTIMATE = Code("113906", "DCM", "Accumulated CTDIvol Forward Estimate")
REASON_FOR_PROCEEDING = Code("113907", "DCM", "Reason For Proceeding")
DOSE_CHECK_NOTIFICATION_DETAILS = Code("113908", "DCM", "Dose Check Notification Details")
DLP_NOTIFICATION_VALUE_CONFIGURED = Code("113909", "DCM", "DLP Notification Value Configured")
CTDIVOL_NOTIFICATION_VALUE_CONFIGURED = Code(
    "113910", "DCM", "CTDIvol Notification Value Configured"
)
DLP_NOTIFICATION_VALUE = Code("113911", "DCM", "DLP Notification Value")
CTDIVOL_NOTIFICATION_VALUE = Code("113912", "DCM", "CTDIvol Notification Value")
DLP_FORWARD_ESTIMATE = Code("113913", "DCM", "DLP Forward Estimate")
CTDIVOL_FORWARD_ESTIMATE = Code("113914", "DCM", "CTDIvol Forward Estimate")

# --- projection X-ray, fluoroscopy, mammography (TID 10002, 10003, 10005) ------------------
ACCUMULATED_XRAY_DOSE_DATA = Code("113702", "DCM", "Accumulated X-Ray Dose Data")
IRRADIATION_EVENT_XRAY_DATA = Code("113706", "DCM", "Irradiation Event X-Ray Data")
ACQUISITION_PLANE = Code("113764", "DCM", "Acquisition Plane")
SINGLE_PLANE = Code("113622", "DCM", "Single Plane")
PLANE_A = Code("113620", "DCM", "Plane A")
PLANE_B = Code("113621", "DCM", "Plane B")
DAP_TOTAL = Code("113722", "DCM", "Dose Area Product Total")
DOSE_RP_TOTAL = Code("113725", "DCM", "Dose (RP) Total")
FLUORO_DAP_TOTAL = Code("113726", "DCM", "Fluoro Dose Area Product Total")
FLUORO_DOSE_RP_TOTAL = Code("113728", "DCM", "Fluoro Dose (RP) Total")
TOTAL_FLUORO_TIME = Code("113730", "DCM", "Total Fluoro Time")
ACQUISITION_DAP_TOTAL = Code("113727", "DCM", "Acquisition Dose Area Product Total")
ACQUISITION_DOSE_RP_TOTAL = Code("113729", "DCM", "Acquisition Dose (RP) Total")
TOTAL_ACQUISITION_TIME = Code("113855", "DCM", "Total Acquisition Time")
TOTAL_NUMBER_OF_RADIOGRAPHIC_FRAMES = Code("113731", "DCM", "Total Number of Radiographic Frames")
REFERENCE_POINT_DEFINITION = Code("113780", "DCM", "Reference Point Definition")
RP_15CM_FROM_ISOCENTER = Code("113860", "DCM", "15cm from Isocenter toward Source")
IRRADIATION_EVENT_TYPE = Code("113721", "DCM", "Irradiation Event Type")
FLUOROSCOPY = Code("44491008", "SCT", "Fluoroscopy")
STATIONARY_ACQUISITION = Code("113611", "DCM", "Stationary Acquisition")
DAP = Code("122130", "DCM", "Dose Area Product")
DOSE_RP = Code("113738", "DCM", "Dose (RP)")
IRRADIATION_DURATION = Code("113742", "DCM", "Irradiation Duration")
FLUORO_MODE = Code("113732", "DCM", "Fluoro Mode")
PULSED = Code("113631", "DCM", "Pulsed")
PULSE_RATE = Code("113791", "DCM", "Pulse Rate")
NUMBER_OF_PULSES = Code("113768", "DCM", "Number of Pulses")
PULSE_WIDTH = Code("113793", "DCM", "Pulse Width")
POSITIONER_PRIMARY_ANGLE = Code("112011", "DCM", "Positioner Primary Angle")
POSITIONER_SECONDARY_ANGLE = Code("112012", "DCM", "Positioner Secondary Angle")
XRAY_FILTERS = Code("113771", "DCM", "X-Ray Filters")
XRAY_FILTER_TYPE = Code("113772", "DCM", "X-Ray Filter Type")
FLAT_FILTER = Code("113653", "DCM", "Flat filter")
XRAY_FILTER_MATERIAL = Code("113757", "DCM", "X-Ray Filter Material")
XRAY_FILTER_THICKNESS_MIN = Code("113758", "DCM", "X-Ray Filter Thickness Minimum")
XRAY_FILTER_THICKNESS_MAX = Code("113773", "DCM", "X-Ray Filter Thickness Maximum")
EXPOSURE_INDEX = Code("113845", "DCM", "Exposure Index")
TARGET_EXPOSURE_INDEX = Code("113846", "DCM", "Target Exposure Index")
DEVIATION_INDEX = Code("113847", "DCM", "Deviation Index")
ACCUMULATED_AGD = Code("111637", "DCM", "Accumulated Average Glandular Dose")
AVERAGE_GLANDULAR_DOSE = Code("111631", "DCM", "Average Glandular Dose")
ENTRANCE_EXPOSURE_AT_RP = Code("111636", "DCM", "Entrance Exposure at RP")
COMPRESSION_THICKNESS = Code("111633", "DCM", "Compression Thickness")
COMPRESSION_FORCE = Code("111647", "DCM", "Compression Force")
ANODE_TARGET_MATERIAL = Code("111632", "DCM", "Anode Target Material")
LATERALITY = Code("272741003", "SCT", "Laterality")
RIGHT_BREAST = Code("73056007", "SCT", "Right breast")
LEFT_BREAST = Code("80248007", "SCT", "Left breast")
IMAGE_VIEW = Code("111031", "DCM", "Image View")
CRANIO_CAUDAL = Code("399162004", "SCT", "cranio-caudal")
MEDIO_LATERAL_OBLIQUE = Code("399368009", "SCT", "medio-lateral oblique")
ALUMINUM = Code("C-120F9", "SRT", "Aluminum or Aluminum compound")
COPPER = Code("C-127F9", "SRT", "Copper or Copper compound")
MOLYBDENUM = Code("C-150F9", "SRT", "Molybdenum or Molybdenum compound")
RHODIUM = Code("C-167F9", "SRT", "Rhodium or Rhodium compound")
SILVER = Code("C-137F9", "SRT", "Silver or Silver compound")
TUNGSTEN = Code("C-164F9", "SRT", "Tungsten or Tungsten compound")

# --- radiopharmaceuticals (TID 10021, 10022) -----------------------------------------------
RADIOPHARMACEUTICAL_ADMINISTRATION = Code("113502", "DCM", "Radiopharmaceutical Administration")
RADIOPHARMACEUTICAL_AGENT = Code("349358000", "SCT", "Radiopharmaceutical agent")
RADIONUCLIDE = Code("89457008", "SCT", "Radionuclide")
RADIONUCLIDE_HALF_LIFE = Code("304283002", "SCT", "Radionuclide Half Life")
ADMINISTRATION_EVENT_UID = Code("113503", "DCM", "Radiopharmaceutical Administration Event UID")
RADIOPHARMACEUTICAL_START = Code("123003", "DCM", "Radiopharmaceutical Start DateTime")
ADMINISTERED_ACTIVITY = Code("113507", "DCM", "Administered activity")
ROUTE_OF_ADMINISTRATION = Code("410675002", "SCT", "Route of administration")
INTRAVENOUS_ROUTE = Code("47625008", "SCT", "Intravenous route")

# --- anatomy (CID 4030 / 4031) -------------------------------------------------------------
HEAD = Code("69536005", "SCT", "Head")
CHEST = Code("51185008", "SCT", "Chest")
ABDOMEN = Code("818983003", "SCT", "Abdomen")
ABDOMEN_AND_PELVIS = Code("818981001", "SCT", "Abdomen and Pelvis")
CHEST_ABDOMEN_PELVIS = Code("416775004", "SCT", "Chest, Abdomen and Pelvis")
HEART = Code("80891009", "SCT", "Heart")
KNEE = Code("72696002", "SCT", "Knee")
LUMBAR_SPINE = Code("122496007", "SCT", "Lumbar spine")
PELVIS = Code("816092008", "SCT", "Pelvis")
HAND = Code("85562004", "SCT", "Hand")
SHOULDER = Code("16982005", "SCT", "Shoulder")
ESOPHAGUS = Code("32849002", "SCT", "Esophagus")
COLON = Code("71854001", "SCT", "Colon")
LOWER_LIMB_ARTERY = Code("840581000", "SCT", "Artery of lower extremity")
CORONARY_ARTERY = Code("41801008", "SCT", "Coronary artery")
CEREBRAL_ARTERY = Code("88556005", "SCT", "Cerebral artery")
BREAST = Code("76752008", "SCT", "Breast")
WHOLE_BODY = Code("38266002", "SCT", "Entire body")

#: UCUM units, keyed by the name the planner uses.
UNITS: dict[str, Code] = {
    "mGy": Code("mGy", "UCUM", "mGy"),
    "Gy": Code("Gy", "UCUM", "Gy"),
    "mGy.cm": Code("mGy.cm", "UCUM", "mGy.cm"),
    "mGycm": Code("mGycm", "UCUM", "mGycm"),
    "Gy.m2": Code("Gy.m2", "UCUM", "Gy.m2"),
    "dGy.cm2": Code("dGy.cm2", "UCUM", "dGy.cm2"),
    "mSv": Code("mSv", "UCUM", "mSv"),
    "s": Code("s", "UCUM", "s"),
    "ms": Code("ms", "UCUM", "ms"),
    "mm": Code("mm", "UCUM", "mm"),
    "kV": Code("kV", "UCUM", "kV"),
    "mA": Code("mA", "UCUM", "mA"),
    "N": Code("N", "UCUM", "Newton"),
    "deg": Code("deg", "UCUM", "deg"),
    "MBq": Code("MBq", "UCUM", "MBq"),
    "ratio": Code("{ratio}", "UCUM", "ratio"),
    "events": Code("{events}", "UCUM", "events"),
    "sources": Code("{X-Ray sources}", "UCUM", "X-Ray sources"),
    "pulses": Code("{pulses}", "UCUM", "pulses"),
    "pulse/s": Code("{pulse}/s", "UCUM", "pulse/s"),
    "frames": Code("{frames}", "UCUM", "frames"),
    "1": Code("1", "UCUM", "no units"),
}

#: Anatomy codes by meaning, so plans can name regions in plain text.
ANATOMY: dict[str, Code] = {
    code.meaning: code
    for code in (
        HEAD,
        CHEST,
        ABDOMEN,
        ABDOMEN_AND_PELVIS,
        CHEST_ABDOMEN_PELVIS,
        HEART,
        KNEE,
        LUMBAR_SPINE,
        PELVIS,
        HAND,
        SHOULDER,
        ESOPHAGUS,
        COLON,
        LOWER_LIMB_ARTERY,
        CORONARY_ARTERY,
        CEREBRAL_ARTERY,
        BREAST,
        WHOLE_BODY,
    )
}

#: CT acquisition types by meaning.
CT_ACQUISITION_TYPES: dict[str, Code] = {
    code.meaning: code
    for code in (SPIRAL_ACQUISITION, SEQUENCED_ACQUISITION, CONSTANT_ANGLE_ACQUISITION)
}

#: Filter and target materials by meaning.
MATERIALS: dict[str, Code] = {
    code.meaning: code for code in (ALUMINUM, COPPER, MOLYBDENUM, RHODIUM, SILVER, TUNGSTEN)
}
