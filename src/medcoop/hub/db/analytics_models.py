"""Analytics tables: alert rules and settings, alerts, the shared protocol library, the
per site x device x exam type x metric x month dose summaries, and the pooled blocks
compacted from them.

All but the pooled blocks are tenant-owned (``org_id`` leads the key), so every query is
scoped by tenant in the data layer. The blocks are the pool itself (every site's sketch
for one exam type, metric and month), read only by the k-anonymous peer benchmark.

Alerts keep their whole lifecycle (open → acknowledged → closed, who, when, the note) in
``history``; their ``alert_key`` is the rule's stable de-duplication key, so evaluating
the same study twice opens one alert. Alerts are also the outbox of
their notices: ``notify_after`` set and ``notified_at`` empty means a notice is due.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, Pooled, TenantOwned, new_id, utcnow

__all__ = [
    "AlertRow",
    "AlertSettings",
    "DoseBlock",
    "DoseSummary",
    "ProtocolCell",
    "PublishedProtocolRow",
]


class AlertSettings(TenantOwned, Base):
    """An organisation's alert rules (``AlertRuleSet`` JSON) and where to notify."""

    __tablename__ = "analytics_alert_settings"

    #: One row per organisation: a constant second key keeps ``org_id`` leading.
    name: Mapped[str] = mapped_column(String(40), primary_key=True, default="default")
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ``{"email": {host, port, sender, recipients}, "webhook": {url, secret}}``; both optional.
    notify: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRow(TenantOwned, Base):
    """One alert and its lifecycle."""

    __tablename__ = "analytics_alerts"
    __table_args__ = (
        Index("ix_analytics_alerts_org_state", "org_id", "state"),
        # the notifier's scan across tenants: due notices first
        Index("ix_analytics_alerts_notify_after", "notify_after"),
    )

    alert_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(64))
    study_uid: Mapped[str] = mapped_column(String(64))
    pseudonym: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(400))
    state: Mapped[str] = mapped_column(String(16))
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column()
    notify_error: Mapped[str | None] = mapped_column(String(400))
    #: When the notifier may (re)try; ``None`` when nothing is to be sent.
    notify_after: Mapped[datetime | None] = mapped_column()
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Channels already delivered ("email", "webhook"), so a retry does not repeat them.
    notify_done: Mapped[list[str] | None] = mapped_column(JSON)


class PublishedProtocolRow(TenantOwned, Base):
    """A protocol an organisation chose to share with the community library.

    Owned by the publishing organisation (``org_id`` leads the key); the library is read
    across tenants by a system session, which never returns ``org_id``.
    """

    __tablename__ = "analytics_protocols"
    __table_args__ = (Index("ix_analytics_protocols_modality", "modality"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128))
    modality: Mapped[str] = mapped_column(String(16))
    body_region: Mapped[str | None] = mapped_column(String(128))
    n_studies: Mapped[int] = mapped_column(Integer)
    publisher: Mapped[str] = mapped_column(String(128))
    #: The whole ``PublishedProtocol`` as JSON (what adopters download).
    document: Mapped[dict[str, Any]] = mapped_column()
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class DoseSummary(TenantOwned, Base):
    """The doses of one site's device for one exam type, metric and month, as a sketch.

    ``sketch`` is a :class:`~medcoop.analytics.sketches.DoseSketch` in byte form, kept
    exact by ingest (a changed study's old value is removed, the new one added), so peer
    benchmarks read summaries instead of studies. ``month`` is ``year * 100 + month`` of
    ``study_at`` in UTC, ``0`` for undated studies. Keyed by device, not device class:
    the class is read from ``devices`` at query time, so editing it needs no rewrite.

    ``updated_at`` is when ingest (or a rebuild) last wrote the cell: a pooled
    :class:`DoseBlock` stands for the cells of its month up to its ``built_at``, and a
    query reads only the cells changed since. Cells that lose their last study stay, empty
    (``n_studies`` 0), so that a block never outlives a value that was taken away.
    """

    __tablename__ = "analytics_dose_summaries"
    __table_args__ = (
        # the peer-benchmark reads across tenants: one exam type and metric over months,
        # and within a month the cells changed since its block was built
        Index("ix_analytics_dose_summaries_changed", "exam_type", "metric", "month", "updated_at"),
    )
    # written by ingest beside the studies, which carry no foreign keys either
    __tenant_fk__ = False

    site_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    exam_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_studies: Mapped[int] = mapped_column(Integer)
    sketch: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProtocolCell(TenantOwned, Base):
    """How one site's device runs one protocol: a sketch per quantity.

    Kept exact by ingest beside :class:`DoseSummary` (same cell writer), so the protocols
    page summarises an organisation's protocols from these cells instead of its studies.
    ``quantity`` is a technique or dose field of
    :data:`medcoop.analytics.protocols.FIELDS` (values per scan acquisition, or per study
    for DLP and DAP), ``studies`` and ``acquisitions`` (one value of 1 each: the sketch's
    count is the number) or ``region:<target region>`` (one per acquisition naming it).
    Never pooled: the shared library holds only what an organisation chose to publish.
    ``month`` is 0 (all time) today: kept as a key so that a period can be added without
    a new table (per month, ingest touched and the page read up to 12x the cells a year).
    """

    __tablename__ = "analytics_protocol_summaries"
    __tenant_fk__ = False  # written by ingest beside the studies, as the dose summaries

    site_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(String(128), primary_key=True)
    quantity: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    sketch: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DoseBlock(Pooled, Base):
    """Every site's dose sketch for one exam type, metric and month, packed for reading.

    Compacted from :class:`DoseSummary` cells (``medcoop.hub.services.analytics.summaries``) and
    read by the peer benchmark, which then reads only the cells changed after
    ``built_at``; it never replaces the cells. Not tenant-owned on purpose: a block *is*
    the pool across organisations, holds per-site and per-device sketches (never a
    study), and is read only through the k-anonymous benchmark, like the protocol library.
    ``sites`` and ``devices`` are :func:`~medcoop.analytics.sketches.pack_rows` blocks
    whose row ids are the site's UUID bytes and the site's then the device's.
    """

    __tablename__ = "analytics_dose_blocks"

    exam_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Cells changed after this are not in the block (a margin before it was built).
    built_at: Mapped[datetime] = mapped_column()
    n_sites: Mapped[int] = mapped_column(Integer)
    n_cells: Mapped[int] = mapped_column(Integer)
    sites: Mapped[bytes] = mapped_column(LargeBinary)
    devices: Mapped[bytes] = mapped_column(LargeBinary)
