"""The edge's ``[apps]`` settings: limits, routing rules, result destinations, local installs.

Frozen pydantic models (configuration is data), read from the edge's TOML file as the
``[apps]`` table of :class:`medcoop.edge.config.EdgeSettings`::

    [apps]
    enabled = true
    quiet_period_s = 120        # a study is complete this long after its last object
    cpu_s = 120                 # the site's limits; an app's manifest may ask for less
    memory_mb = 2048
    wall_s = 300

    [[apps.routes]]             # which studies go to which apps, results to where
    name = "ct-clinical"
    clinical = true             # research-use-only apps are never on a clinical route
    modalities = ["CT"]
    body_parts = []             # empty: any
    stations = []
    protocols = []              # text the protocol name contains (case-insensitive)
    apps = ["*"]                # app ids, or "*"
    destinations = ["pacs"]

    [[apps.destinations]]
    name = "pacs"
    kind = "dimse"              # or "stow" (with url and token)
    host = "10.0.0.5"
    port = 104
    ae_title = "PACS"

No route, no run: an installed app receives nothing until a route sends it studies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AppsSettings", "Destination", "LocalInstall", "Route"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Frozen):
    """A site's routing rule: the studies it matches, the apps it feeds, where results go.

    Every non-empty criterion must hold for an object (values compared case-insensitively;
    ``protocols`` match when the object's protocol name, or its series or performed step
    description, contains one of them).
    """

    name: Annotated[str, Field(min_length=1, max_length=64)]
    #: A clinical route carries patients' care: research-use-only apps never run on it.
    clinical: bool = True
    modalities: tuple[str, ...] = ()
    body_parts: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ()
    apps: tuple[str, ...] = ("*",)
    destinations: tuple[str, ...] = ()

    def matches(self, ds: Any) -> bool:
        """Whether the object (a pydicom Dataset) is on this route."""
        return (
            _one_of(ds.get("Modality"), self.modalities)
            and _one_of(ds.get("BodyPartExamined"), self.body_parts)
            and _one_of(ds.get("StationName"), self.stations)
            and _contains(
                [ds.get("ProtocolName"), ds.get("SeriesDescription"),
                 ds.get("PerformedProcedureStepDescription")], self.protocols)
        )

    def feeds(self, app_id: str, *, research_only: bool) -> bool:
        """Whether this route sends studies to app ``app_id``."""
        if research_only and self.clinical:
            return False
        return "*" in self.apps or app_id in self.apps


class Destination(_Frozen):
    """Where results go: a PACS by C-STORE (``dimse``) or a DICOMweb STOW-RS service."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Literal["dimse", "stow"] = "dimse"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 104
    ae_title: Annotated[str, Field(min_length=1, max_length=16)] = "PACS"
    calling_ae_title: Annotated[str, Field(min_length=1, max_length=16)] = "MEDCOOP"
    #: STOW-RS: the service's base URL (``…/dicom-web``; ``/studies`` is appended).
    url: str | None = None
    token: str | None = None
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


class LocalInstall(_Frozen):
    """An app installed by hand (development, the demo): its manifest and interpreter.

    Store installs (``medcoop edge apps install``) are found without configuration.
    """

    manifest: Path
    #: The app's venv's python; this interpreter when not given.
    python: Path | None = None
    #: Folders put on the app's import path (its source, when not installed in the venv).
    app_paths: tuple[Path, ...] = ()
    #: Parameter values for this site (checked against the manifest's declarations).
    parameters: dict[str, Any] = Field(default_factory=dict)


class AppsSettings(_Frozen):
    """On-premise apps: whether they run, their limits, routes, destinations, installs."""

    enabled: bool = False
    #: ``auto``: bubblewrap where it works, else rlimits only (said plainly in status);
    #: ``rlimits``: never namespaces (a machine where bubblewrap misbehaves).
    sandbox: Literal["auto", "rlimits"] = "auto"
    cpu_s: Annotated[float, Field(gt=0)] = 120.0
    memory_mb: Annotated[int, Field(ge=64)] = 2048
    wall_s: Annotated[float, Field(gt=0)] = 300.0
    max_output_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024 * 1024
    max_processes: Annotated[int, Field(ge=1)] = 32
    #: A study is complete for apps this long after its last object, or shortly after the
    #: edge itself decides it is complete (MPPS completed with its dose report).
    quiet_period_s: Annotated[float, Field(ge=0)] = 120.0
    #: A run interrupted by a crash of the edge is tried again this many times in all.
    max_attempts: Annotated[int, Field(ge=1)] = 3
    export_backoff_base_s: Annotated[float, Field(gt=0)] = 2.0
    export_backoff_max_s: Annotated[float, Field(gt=0)] = 300.0
    routes: tuple[Route, ...] = ()
    destinations: tuple[Destination, ...] = ()
    installed: tuple[LocalInstall, ...] = ()

    def destination(self, name: str) -> Destination | None:
        """The destination called ``name``."""
        return next((d for d in self.destinations if d.name == name), None)


def _one_of(value: Any, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    if value is None:
        return False
    values = [value] if isinstance(value, str) else list(value) if hasattr(
        value, "__iter__") else [value]
    wanted = {a.strip().casefold() for a in allowed}
    return any(str(v).strip().casefold() in wanted for v in values)


def _contains(values: list[Any], needles: tuple[str, ...]) -> bool:
    if not needles:
        return True
    texts = [str(v).casefold() for v in values if v]
    return any(n.casefold() in t for n in needles for t in texts)
