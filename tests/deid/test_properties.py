"""Property-based tests: identifiers planted anywhere in generated datasets never leak."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from medcoop.deid import Deidentified, Deidentifier, SiteKey, load_profile
from tests.common.adversarial import find_leaks

KEY = SiteKey(b"\x05" * 32)
DEIDENTIFIERS = {
    name: Deidentifier(KEY, load_profile(name)) for name in ("basic", "dose-monitoring")
}

# "Q" first: no generated name can be a word the output legitimately contains.
names = st.text(alphabet="ABCDEFGHIJKLMNOPRSTUVWYÄÖÜÉÑ", min_size=4, max_size=10).map(
    lambda s: "Q" + s
)
ids = st.from_regex(r"\AID[A-Z0-9]{5,9}\Z")
dates = st.dates(min_value=date(1930, 1, 1), max_value=date(1990, 12, 31)).map(
    lambda d: d.strftime("%Y%m%d")
)

Placement = Callable[[Dataset, str], None]


def _comment(ds: Dataset, value: str) -> None:
    ds.ImageComments = f"see {value} again"


def _description(ds: Dataset, value: str) -> None:
    ds.StudyDescription = f"CT {value}"


def _private(ds: Dataset, value: str) -> None:
    ds.private_block(0x0011, "RANDOM VENDOR", create=True).add_new(0x01, "LO", value)


def _private_binary(ds: Dataset, value: str) -> None:
    block = ds.private_block(0x0013, "RANDOM VENDOR", create=True)
    block.add_new(0x02, "UN", value.encode("utf_16_le"))


def _nested(ds: Dataset, value: str) -> None:
    inner = Dataset()
    inner.TextValue = value
    middle = Dataset()
    middle.ContentSequence = Sequence([inner])
    ds.ContentSequence = Sequence([middle])


def _person(ds: Dataset, value: str) -> None:
    observer = Dataset()
    observer.VerifyingObserverName = f"{value}^X"
    ds.VerifyingObserverSequence = Sequence([observer])


def _other_ids(ds: Dataset, value: str) -> None:
    item = Dataset()
    item.PatientID = value
    ds.OtherPatientIDsSequence = Sequence([item])


def _request(ds: Dataset, value: str) -> None:
    item = Dataset()
    item.RequestedProcedureDescription = value
    item.AccessionNumber = value
    ds.RequestAttributesSequence = Sequence([item])


PLACES: list[Placement] = [
    _comment,
    _description,
    _private,
    _private_binary,
    _nested,
    _person,
    _other_ids,
    _request,
]


def _base(name: str, patient_id: str, birth: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.PatientName = f"{name}^{name[::-1]}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth
    ds.StudyDate = "20260105"
    return ds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=names,
    patient_id=ids,
    birth=dates,
    places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=4),
    which=st.sampled_from(["name", "id", "birth", "reordered"]),
    profile=st.sampled_from(sorted(DEIDENTIFIERS)),
)
def test_planted_values_never_leak(
    name: str, patient_id: str, birth: str, places: list[Placement], which: str, profile: str
) -> None:
    ds = _base(name, patient_id, birth)
    planted = {
        "name": name,
        "id": patient_id,
        "birth": birth,
        "reordered": f"{name[::-1]} {name}",
    }[which]
    for place in places:
        place(ds, planted)
    result = DEIDENTIFIERS[profile].deidentify(ds)
    tokens = frozenset({name, name[::-1], patient_id, birth})
    if isinstance(result, Deidentified):
        assert find_leaks(result.payload, tokens) == set()
    else:
        assert not any(token.lower() in result.reason.lower() for token in tokens)


@settings(max_examples=25, deadline=None)
@given(name=names, patient_id=ids, birth=dates)
def test_deidentification_is_deterministic(name: str, patient_id: str, birth: str) -> None:
    deid = DEIDENTIFIERS["dose-monitoring"]
    first = deid.deidentify(_base(name, patient_id, birth))
    second = deid.deidentify(_base(name, patient_id, birth))
    assert isinstance(first, Deidentified) and isinstance(second, Deidentified)
    assert first.payload == second.payload
    assert first.pseudonym == KEY.patient_pseudonym(patient_id)
