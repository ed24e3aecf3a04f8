"""Alert notifications: small I/O adapters for e-mail (SMTP) and webhooks (HTTP POST).

Both send the same JSON-able summary of an alert (:func:`alert_payload`), which names
the patient only by a shortened pseudonym. Webhook bodies are signed with HMAC-SHA-256
under the organisation's webhook secret (header ``X-Medcoop-Signature: sha256=<hex>``) so
the receiver can check who sent them. A failed delivery raises
:class:`NotificationError` with the channel and the reason; the caller keeps the alert
and retries later, so nothing is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import httpx

from medcoop.analytics.alerts import Alert

__all__ = [
    "SIGNATURE_HEADER",
    "NotificationError",
    "Notifier",
    "SmtpNotifier",
    "WebhookNotifier",
    "alert_payload",
    "sign_body",
]

SIGNATURE_HEADER = "X-Medcoop-Signature"


class NotificationError(RuntimeError):
    """A notification could not be delivered; carries the channel and the reason."""

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(f"{channel} notification failed: {reason}")
        self.channel, self.reason = channel, reason


class Notifier(Protocol):
    """Something that delivers an alert somewhere."""

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise :class:`NotificationError`."""


def alert_payload(alert: Alert, *, organisation: str) -> dict[str, object]:
    """Return the JSON-able summary sent for an alert (no identifying values)."""
    c = alert.candidate
    return {
        "organisation": organisation,
        "alert_key": c.key,
        "kind": str(c.kind),
        "state": str(alert.state),
        "rule_id": c.rule_id,
        "study_uid": c.study_uid,
        "patient_pseudonym": c.pseudonym[:12],
        "metric": c.metric,
        "value": c.value,
        "threshold": c.threshold,
        "message": c.message,
        "opened_at": alert.history[0].at.isoformat(),
    }


def sign_body(secret: bytes, body: bytes) -> str:
    """Return the signature header value of a webhook body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SmtpNotifier:
    """Send alerts by e-mail through a configured SMTP server."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    organisation: str
    timeout_s: float = 10.0
    starttls: bool = False
    username: str | None = None
    password: str | None = None

    def message(self, alert: Alert) -> EmailMessage:
        """Return the e-mail for ``alert`` (plain text plus the JSON summary)."""
        payload = alert_payload(alert, organisation=self.organisation)
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = ", ".join(self.recipients)
        email["Subject"] = f"[medcoop] {payload['kind']} alert: {payload['message']}"[:200]
        body = "\n".join(f"{k}: {v}" for k, v in payload.items())
        email.set_content(body + "\n\n" + json.dumps(payload, sort_keys=True) + "\n")
        return email

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` to every recipient.

        Raises
        ------
        NotificationError
            If the server cannot be reached or refuses the message.
        """
        if not self.recipients:
            raise NotificationError("smtp", "no recipients configured")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationError("smtp", f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class WebhookNotifier:
    """POST alerts as signed JSON to a configured URL."""

    url: str
    secret: bytes
    organisation: str
    timeout_s: float = 10.0

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; any non-2xx answer is a failure.

        Raises
        ------
        NotificationError
            On a network error or a non-2xx status.
        """
        body = json.dumps(alert_payload(alert, organisation=self.organisation)).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(self.secret, body),
        }
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise NotificationError("webhook", f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise NotificationError("webhook", f"HTTP {response.status_code}")
