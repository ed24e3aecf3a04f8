"""Radiopharmaceutical Radiation Dose SR (TID 10021/10022) for NM and PET studies."""

from __future__ import annotations

from pydicom.dataset import Dataset

from medcoop.sim import codes as C
from medcoop.sim.codes import SopClass
from medcoop.sim.plan import StudyTruth
from medcoop.sim.protocols import NmProtocol
from medcoop.sim.sr import device_observer_items, sr_document, writer_for
from medcoop.sim.vendors import DeviceSpec

__all__ = ["radiopharmaceutical_rdsr"]


def radiopharmaceutical_rdsr(
    truth: StudyTruth, device: DeviceSpec, protocol: NmProtocol
) -> Dataset:
    """Return the Radiopharmaceutical Radiation Dose SR of a planned NM or PET study."""
    sr = writer_for(device)
    rel = "CONTAINS"
    administrations = []
    for event in truth.events:
        items = [
            sr.coded(rel, C.RADIOPHARMACEUTICAL_AGENT, protocol.agent),
            sr.coded(rel, C.RADIONUCLIDE, protocol.radionuclide),
            sr.num(rel, C.RADIONUCLIDE_HALF_LIFE, protocol.half_life_s, "s"),
            sr.uidref(rel, C.ADMINISTRATION_EVENT_UID, event.event_uid),
            sr.coded(rel, C.ROUTE_OF_ADMINISTRATION, C.INTRAVENOUS_ROUTE),
            sr.datetime(rel, C.RADIOPHARMACEUTICAL_START, event.started_at),
            sr.num(rel, C.ADMINISTERED_ACTIVITY, event.administered_activity_mbq or 0.0, "MBq"),
        ]
        if event.effective_dose_msv is not None:
            items.append(sr.num(rel, C.EFFECTIVE_DOSE, event.effective_dose_msv, "mSv"))
        administrations.append(sr.container(rel, C.RADIOPHARMACEUTICAL_ADMINISTRATION, items))
    content = [*device_observer_items(sr, device), *administrations]
    return sr_document(
        truth,
        device,
        sop_class_uid=SopClass.RADIOPHARMACEUTICAL_RDSR,
        template_id="10021",
        title=C.RADIOPHARMACEUTICAL_DOSE_REPORT,
        content=content,
        image_sop_class_uid=SopClass.PET_IMAGE if truth.modality == "PT" else None,
    )
