"""The demo's modalities: send a synthetic study as a scanner does, or back-load it.

A scanner opens an association per study and sends MPPS N-CREATE (exam started), its
objects by C-STORE (images, the dose report) and MPPS N-SET (exam completed): pynetdicom
plays the modality, the edge's real DIMSE receiver answers. Peer hospitals in the demo
back-load archives instead, through the same pipeline ``medcoop edge import`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from medcoop.edge.pipeline import Pipeline
from medcoop.sim import SimStudy
from medcoop.sim.encode import UnsupportedElementError, encode_part10

__all__ = ["Delivery", "backload_study", "send_study"]

_SUCCESS = 0x0000


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one study went: messages sent and how many the edge answered with success."""

    sent: int
    accepted: int

    @property
    def ok(self) -> bool:
        """True when the edge accepted every message."""
        return self.sent == self.accepted


def send_study(port: int, study: SimStudy, *, called_aet: str = "MEDCOOP") -> Delivery:
    """Send ``study`` to the edge's DICOM port: N-CREATE, C-STOREs, N-SET (one association)."""
    ae = AE(ae_title=_calling_aet(study))
    ae.add_requested_context(ModalityPerformedProcedureStep)
    for ds in study.datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=called_aet)
    if not assoc.is_established:
        return Delivery(sent=len(study.datasets) + 2, accepted=0)
    uid = study.truth.mpps_sop_instance_uid
    statuses: list[int] = []
    try:
        if study.mpps_create is not None:
            status, _ = assoc.send_n_create(study.mpps_create, ModalityPerformedProcedureStep, uid)
            statuses.append(_status(status))
        statuses.extend(_status(assoc.send_c_store(ds)) for ds in study.datasets)
        if study.mpps_set is not None:
            status, _ = assoc.send_n_set(study.mpps_set, ModalityPerformedProcedureStep, uid)
            statuses.append(_status(status))
    finally:
        assoc.release()
    return Delivery(sent=len(statuses), accepted=statuses.count(_SUCCESS))


def backload_study(pipeline: Pipeline, study: SimStudy) -> Delivery:
    """Feed ``study`` to an edge's pipeline as a folder import would."""
    uid = study.truth.mpps_sop_instance_uid
    outcomes = []
    if study.mpps_create is not None:
        outcomes.append(pipeline.process_mpps(study.mpps_create, uid, "import"))
    for ds in study.datasets:
        outcomes.append(pipeline.process_bytes(_encode(ds), "import"))
    if study.mpps_set is not None:
        outcomes.append(pipeline.process_mpps(study.mpps_set, uid, "import"))
    accepted = sum(1 for o in outcomes if o.accepted)
    return Delivery(sent=len(outcomes), accepted=accepted)


def _calling_aet(study: SimStudy) -> str:
    # a modality's AE title names the device, never the patient
    return f"{study.device.kind.upper()}{study.truth.site[:1].upper()}SCANNER"[:16]


def _status(status: object) -> int:
    # an empty Dataset means the association failed mid-way (pynetdicom's convention)
    return int(getattr(status, "Status", -1))


def _encode(ds: object) -> bytes:
    import io

    try:
        return encode_part10(ds)  # type: ignore[arg-type]
    except UnsupportedElementError:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)  # type: ignore[attr-defined]
        return buffer.getvalue()
