"""Analytics tables: each organisation's alert rules and notification settings, and alerts.

Both are tenant-owned (``org_id`` leads the key), so every query is scoped by tenant in
the data layer. Alerts keep their whole lifecycle (open → acknowledged → closed, who,
when, the note) in ``history``; their ``alert_key`` is the rule's stable de-duplication
key, so evaluating the same study twice opens one alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from medcoop.hub.db.base import Base, TenantOwned, utcnow

__all__ = ["AlertRow", "AlertSettings"]


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
    __table_args__ = (Index("ix_analytics_alerts_org_state", "org_id", "state"),)

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
