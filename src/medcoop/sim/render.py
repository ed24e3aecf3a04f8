"""Render a planned study into the DICOM objects its device sends.

Rendering draws no random numbers: everything comes from the plan, so a study's datasets
are the same whenever (and however often) they are built.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from medcoop.sim import adversarial
from medcoop.sim.ct import ct_images, ct_rdsr
from medcoop.sim.images import dx_images, mg_images, pt_images
from medcoop.sim.mpps import mpps_create, mpps_set
from medcoop.sim.nm import radiopharmaceutical_rdsr
from medcoop.sim.plan import StudyTruth
from medcoop.sim.projection import projection_rdsr
from medcoop.sim.protocols import ExamProtocol, NmProtocol
from medcoop.sim.vendors import DeviceSpec

__all__ = ["render_composites", "render_mpps"]


def render_composites(
    truth: StudyTruth, device: DeviceSpec, protocol: ExamProtocol
) -> list[Dataset]:
    """Return the study's composite objects: images first, then the dose report(s)."""
    objects: list[Dataset] = []
    kind = device.kind
    if truth.image_sop_instance_uids:
        if kind == "ct":
            objects += ct_images(truth, device)
        elif kind in {"dx", "cr"}:
            objects += dx_images(truth, device)
        elif kind == "mg":
            objects += mg_images(truth, device)
        elif kind == "pt" and isinstance(protocol, NmProtocol):
            objects += pt_images(truth, device, protocol)
    if truth.rdsr_sop_instance_uid:
        for part in truth.report_parts():
            if kind == "ct":
                objects.append(ct_rdsr(part, device))
            elif kind in {"nm", "pt"} and isinstance(protocol, NmProtocol):
                objects.append(radiopharmaceutical_rdsr(part, device, protocol))
            else:
                objects.append(projection_rdsr(part, device))
    if truth.adversarial:
        for ds in objects:
            adversarial.plant_in_dataset(ds, truth)
    return objects


def render_mpps(truth: StudyTruth, device: DeviceSpec) -> tuple[Dataset, Dataset]:
    """Return the study's MPPS N-CREATE and N-SET attribute lists."""
    created, completed = mpps_create(truth, device), mpps_set(truth, device)
    if truth.adversarial:
        adversarial.plant_in_mpps(completed, truth)
    return created, completed
