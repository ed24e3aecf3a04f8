"""Identifiers planted in hard places, for privacy tests (``Fleet(adversarial=True)``).

Besides the usual attributes, an adversarial study hides its patient's identifiers in an
unknown vendor's private block, in Other Patient IDs and Request Attributes sequences, in
free-text comments, in SR TEXT items and as an SR person observer's name, where a
de-identifier that follows only a hand-picked list would miss them.
"""

from __future__ import annotations

import random

from pydicom.dataset import Dataset

from medcoop.sim import codes as C
from medcoop.sim._build import SrWriter, new, put, put_seq
from medcoop.sim.plan import StudyTruth

__all__ = ["PRIVATE_CREATOR", "extra_identifiers", "plant_in_dataset", "plant_in_mpps"]

#: The private creator of the unknown vendor whose block carries identifiers.
PRIVATE_CREATOR = "OBSCURA IMAGING 1.0"
_PRIVATE_GROUP = 0x0029


def extra_identifiers(rng: random.Random, family_names: tuple[str, ...]) -> dict[str, str]:
    """Draw the extra identifiers an adversarial study plants (mother's name, case number)."""
    return {
        "mother_birth_name": f"{rng.choice(family_names)}^Maria",
        "case_number": f"CASE-{rng.randrange(10_000_000, 99_999_999)}",
    }


def _free_text(truth: StudyTruth) -> str:
    patient = truth.patient
    family, _, given = patient.name.partition("^")
    return (
        f"Pt {given} {family}, MRN {patient.patient_id}, DOB {patient.birth_date_da}, "
        f"tel {patient.phone}, acc {truth.accession_number}"
    )


def plant_in_dataset(ds: Dataset, truth: StudyTruth) -> None:
    """Plant identifiers in the hard places of one composite object, in place."""
    patient = truth.patient
    extras = truth.adversarial_extras
    block = ds.private_block(_PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", patient.name)
    block.add_new(0x11, "LO", patient.patient_id)
    block.add_new(0x12, "LT", _free_text(truth))
    block.add_new(0x13, "LO", extras["case_number"])
    put_seq(
        ds,
        "OtherPatientIDsSequence",
        [
            new(PatientID=other, IssuerOfPatientID="NATIONAL", TypeOfPatientID="TEXT")
            for other in patient.other_patient_ids
        ],
    )
    put_seq(
        ds,
        "RequestAttributesSequence",
        [
            new(
                RequestedProcedureID=f"RP{truth.study_id}",
                ScheduledProcedureStepID=f"SPS{truth.study_id}",
                AccessionNumber=truth.accession_number,
                ReasonForTheRequestedProcedure=f"Follow-up for {_free_text(truth)}",
            )
        ],
    )
    put(ds, "PatientMotherBirthName", extras["mother_birth_name"])
    put(ds, "PatientComments", f"Lives at {patient.address}")
    put(ds, "AdditionalPatientHistory", _free_text(truth))
    if "PixelData" in ds:
        put(ds, "ImageComments", _free_text(truth))
    if "ContentSequence" in ds:
        _plant_in_sr(ds, truth)


def _plant_in_sr(ds: Dataset, truth: StudyTruth) -> None:
    sr = SrWriter()
    observer = [
        sr.coded("HAS OBS CONTEXT", C.OBSERVER_TYPE, C.PERSON),
        sr.pname("HAS OBS CONTEXT", C.PERSON_OBSERVER_NAME, truth.staff.performing_physician),
    ]
    comment = sr.text("CONTAINS", C.COMMENT, _free_text(truth))
    items = list(ds.ContentSequence)
    put_seq(ds, "ContentSequence", [items[0], *observer, *items[1:], comment])


def plant_in_mpps(ds: Dataset, truth: StudyTruth) -> None:
    """Plant identifiers in an MPPS attribute list's free text, in place."""
    put(ds, "CommentsOnThePerformedProcedureStep", _free_text(truth))
