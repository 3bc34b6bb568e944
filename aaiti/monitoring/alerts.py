"""Alerts: every stage writes to one outbox (``ops.alerts``); delivery sends them on.

Raising an alert is a row written inside the raising stage's own transaction, so an alert
exists exactly when the event it reports was committed. :func:`deliver_pending` claims the
outbox rows, sends each to the configured channels (a JSON webhook, Slack, Discord, email
over SMTP, and always the log) with a dedup key, a per-channel rate limit and bounded
retries, and records every outcome in ``monitoring.alerts``. A dead channel is logged,
retried within bounds and recorded as failed; it never raises into a flow.

Channel secrets (webhook URLs carry tokens, the SMTP password) come from settings as
secrets and are scrubbed from every recorded or logged error.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import duckdb
import pandas as pd
from pydantic import SecretStr

from aaiti.config import Settings
from aaiti.redact import redact_in_logs
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, run

log = logging.getLogger(__name__)
_SQL = "aaiti.monitoring"

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    alert_id: str
    raised_at: datetime
    source: str
    severity: str
    dedup_key: str
    message: str

    def line(self) -> str:
        return f"[{self.severity.upper()}] {self.source}: {self.message}"


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None:
        """Deliver or raise; the caller retries and records."""


class ChannelError(RuntimeError):
    """A channel refused or could not be reached."""


@dataclass
class WebhookChannel:
    """An HTTP POST of a JSON body; Slack, Discord and a generic receiver differ in shape."""

    name: str
    url: SecretStr
    body: Callable[[Alert], dict]
    timeout_s: float = 5.0

    def send(self, alert: Alert) -> None:
        import httpx

        try:
            response = httpx.post(
                self.url.get_secret_value(), json=self.body(alert), timeout=self.timeout_s
            )
        except httpx.HTTPError as err:
            raise ChannelError(f"{type(err).__name__}: {err}") from None
        if response.status_code >= 300:
            raise ChannelError(f"HTTP {response.status_code}: {response.text[:200]}")


def generic_body(alert: Alert) -> dict:
    return {
        "alert_id": alert.alert_id,
        "raised_at": alert.raised_at.isoformat(),
        "source": alert.source,
        "severity": alert.severity,
        "dedup_key": alert.dedup_key,
        "message": alert.message,
    }


def slack_body(alert: Alert) -> dict:
    return {"text": alert.line()}


def discord_body(alert: Alert) -> dict:
    return {"content": alert.line()[:2000]}  # Discord's message limit


@dataclass
class EmailChannel:
    host: str
    port: int
    sender: str
    to: list[str]
    starttls: bool = False
    user: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 5.0
    name: str = "email"

    def send(self, alert: Alert) -> None:
        msg = EmailMessage()
        msg["Subject"] = f"[AAITI {alert.severity}] {alert.source}: {alert.message[:80]}"
        msg["From"], msg["To"] = self.sender, ", ".join(self.to)
        msg.set_content(
            f"{alert.message}\n\nsource: {alert.source}\nseverity: {alert.severity}\n"
            f"raised at: {alert.raised_at.isoformat()}\ndedup key: {alert.dedup_key}\n"
        )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user and self.password:
                    smtp.login(self.user, self.password.get_secret_value())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as err:
            raise ChannelError(f"{type(err).__name__}: {err}") from None


@dataclass
class LogChannel:
    name: str = "log"

    def send(self, alert: Alert) -> None:
        level = {"critical": logging.ERROR, "warning": logging.WARNING}.get(
            alert.severity, logging.INFO
        )
        log.log(level, "alert %s", alert.line())


def channels_from(settings: Settings) -> list[Channel]:
    """The log, plus every channel whose settings are given."""
    t = settings.alert_timeout_s
    redact_in_logs(_secrets(settings), ("httpx", "httpcore.connection", "httpcore.http11"))
    channels: list[Channel] = [LogChannel()]
    for name, url, body in (
        ("webhook", settings.alert_webhook_url, generic_body),
        ("slack", settings.alert_slack_webhook_url, slack_body),
        ("discord", settings.alert_discord_webhook_url, discord_body),
    ):
        if url is not None:
            channels.append(WebhookChannel(name, url, body, t))
    if settings.alert_smtp_host and settings.alert_email_to:
        channels.append(
            EmailChannel(
                host=settings.alert_smtp_host,
                port=settings.alert_smtp_port,
                sender=settings.alert_email_from,
                to=list(settings.alert_email_to),
                starttls=settings.alert_smtp_starttls,
                user=settings.alert_smtp_user,
                password=settings.alert_smtp_password,
                timeout_s=t,
            )
        )
    return channels


def _secrets(settings: Settings) -> list[str]:
    values = [
        settings.alert_webhook_url,
        settings.alert_slack_webhook_url,
        settings.alert_discord_webhook_url,
        settings.alert_smtp_password,
    ]
    return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<secret>")
    return text


def raise_alert(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    severity: str,
    dedup_key: str,
    message: str,
    at: datetime | None = None,
) -> None:
    """Put an alert in the outbox, inside the caller's transaction."""
    if severity not in SEVERITIES:
        raise ValueError(f"alert severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    run(
        con,
        load_sql("aaiti.quality", "insert_alert"),
        [at or datetime.now(UTC), source, severity, dedup_key, message],
    )


@dataclass
class DeliveryReport:
    alerts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # status -> count


def deliver_pending(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    channels: list[Channel] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Claim undelivered alerts, send them, record the outcomes. Never raises for a channel."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    channels = channels if channels is not None else channels_from(settings)
    secrets = _secrets(settings)
    now = datetime.now(UTC)
    with warehouse.writer(purpose="claim alerts") as con:
        pending = [
            Alert(str(r[0]), r[1], r[2], r[3], r[4], r[5])
            for r in con.sql(load_sql(_SQL, "alerts_claim"), params=[now]).fetchall()
        ]
        since = now - timedelta(seconds=max(settings.alert_dedup_window_s, 3600.0))
        history = con.sql(load_sql(_SQL, "alerts_recent_sent"), params=[since]).fetchall()
    report = DeliveryReport(alerts=len(pending))
    if not pending:
        return report
    last_sent: dict[tuple[str, str], datetime] = {}
    sent_times: dict[str, list[datetime]] = {}
    for channel, key, at in history:
        last_sent[(channel, key)] = max(at, last_sent.get((channel, key), at))
        sent_times.setdefault(channel, []).append(at)
    floor = SEVERITIES.index(settings.alert_min_severity)
    rows = []
    for alert in pending:
        for channel in channels:
            if channel.name != "log" and SEVERITIES.index(alert.severity) < floor:
                continue
            at = datetime.now(UTC)
            status, attempts, error = _deliver(
                channel, alert, settings, last_sent, sent_times, at, sleep
            )
            if error:
                error = scrub(error, secrets)
                log.warning(
                    "alert channel %s failed for %s: %s", channel.name, alert.alert_id, error
                )
            rows.append(
                {
                    "alert_id": alert.alert_id,
                    "raised_at": alert.raised_at,
                    "source": alert.source,
                    "severity": alert.severity,
                    "dedup_key": alert.dedup_key,
                    "message": alert.message,
                    "channel": channel.name,
                    "status": status,
                    "attempts": attempts,
                    "error": error,
                    "handled_at": at,
                }
            )
            report.outcomes[status] = report.outcomes.get(status, 0) + 1
    with warehouse.writer(purpose="record alerts") as con:
        con.register("alert_outcomes", pd.DataFrame(rows))
        run(con, load_sql(_SQL, "alerts_record"))
        con.unregister("alert_outcomes")
    return report


def _deliver(
    channel: Channel,
    alert: Alert,
    settings: Settings,
    last_sent: dict[tuple[str, str], datetime],
    sent_times: dict[str, list[datetime]],
    now: datetime,
    sleep: Callable[[float], None],
) -> tuple[str, int, str | None]:
    previous = last_sent.get((channel.name, alert.dedup_key))
    if previous is not None and (now - previous).total_seconds() < settings.alert_dedup_window_s:
        return "duplicate", 0, None
    hour_ago = now - timedelta(hours=1)
    recent = [t for t in sent_times.get(channel.name, []) if t > hour_ago]
    if channel.name != "log" and len(recent) >= settings.alert_rate_limit_per_hour:
        return "rate_limited", 0, None
    error = None
    for attempt in range(1, settings.alert_retries + 2):
        try:
            channel.send(alert)
        except Exception as err:  # a channel must never break the caller
            error = (
                f"{type(err).__name__}: {err}" if not isinstance(err, ChannelError) else str(err)
            )
            if attempt <= settings.alert_retries:
                sleep(settings.alert_retry_backoff_s * 2 ** (attempt - 1))
            continue
        last_sent[(channel.name, alert.dedup_key)] = now
        sent_times.setdefault(channel.name, []).append(now)
        return "sent", attempt, None
    return "failed", settings.alert_retries + 1, error


def notify(
    settings: Settings,
    *,
    source: str,
    severity: str,
    dedup_key: str,
    message: str,
    warehouse: Warehouse | None = None,
) -> DeliveryReport:
    """Raise one alert in its own transaction and deliver what is pending."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    with warehouse.writer(purpose=f"alert {source}") as con:
        raise_alert(con, source=source, severity=severity, dedup_key=dedup_key, message=message)
    return deliver_pending(settings, warehouse=warehouse)
