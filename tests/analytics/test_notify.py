"""Alert notifications through a real local SMTP sink (aiosmtpd) and a real HTTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes

import pytest

from medcoop.analytics.alerts import Alert, CtThresholdRule, evaluate_study, open_alert
from medcoop.analytics.notify import (
    SIGNATURE_HEADER,
    NotificationError,
    SmtpNotifier,
    WebhookNotifier,
    sign_body,
)

from .conftest import _free_port, _Hook, _Sink
from .factories import ct_event, record


@pytest.fixture
def alert() -> Alert:
    study = record("20.1", patient="DOE^JANE", events=(ct_event("20.1.1", 80, 900),))
    rule = CtThresholdRule(rule_id="ctdi60", metric="ctdivol", threshold=60)
    (candidate,) = evaluate_study(study, [rule])
    return open_alert(candidate, at=datetime(2026, 3, 2, 9, tzinfo=UTC))


def test_email_reaches_the_smtp_sink(smtp_sink: tuple[_Sink, int], alert: Alert) -> None:
    sink, port = smtp_sink
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=port,
        sender="alerts@medcoop.test",
        recipients=("physicist@hospital.test",),
        organisation="St Elsewhere",
    )
    notifier.send(alert)
    ((sender, recipients, content),) = sink.messages
    assert sender == "alerts@medcoop.test" and recipients == ["physicist@hospital.test"]
    email = message_from_bytes(content)
    assert "ct_threshold" in email["Subject"]
    body = email.get_payload(decode=True).decode()  # type: ignore[union-attr]
    summary = json.loads(body.strip().splitlines()[-1])
    assert summary["value"] == 80.0 and summary["alert_key"] == alert.key
    assert "DOE" not in body


def test_unreachable_smtp_server_is_a_clear_error(alert: Alert) -> None:
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=_free_port(),
        sender="a@b.test",
        recipients=("c@d.test",),
        organisation="o",
        timeout_s=2,
    )
    with pytest.raises(NotificationError) as info:
        notifier.send(alert)
    assert info.value.channel == "smtp"


def test_webhook_posts_signed_json(webhook: tuple[type[_Hook], str], alert: Alert) -> None:
    handler, url = webhook
    WebhookNotifier(url=url, secret=b"s3cret", organisation="St Elsewhere").send(alert)
    ((headers, body),) = handler.received
    assert headers[SIGNATURE_HEADER] == sign_body(b"s3cret", body)
    assert headers[SIGNATURE_HEADER] != sign_body(b"other", body)
    assert json.loads(body)["kind"] == "ct_threshold"


def test_webhook_error_status_is_a_failure(webhook: tuple[type[_Hook], str], alert: Alert) -> None:
    handler, url = webhook
    handler.status = 500
    with pytest.raises(NotificationError, match="HTTP 500"):
        WebhookNotifier(url=url, secret=b"k", organisation="o").send(alert)
