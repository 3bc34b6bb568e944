"""Alerts: every stage writes to one outbox (``ops.alerts``); delivery sends them on.

Raising an alert is a row written inside the raising stage's own transaction, so an alert
exists exactly when the event it reports was committed. :func:`deliver_pending` claims the
outbox rows and sends each to the log and to every channel configured as an Apprise URL
(Telegram, Slack, Discord, email, SMS, ntfy, a JSON webhook …), with a dedup key, a
per-channel rate limit and bounded retries, and records every outcome in
``monitoring.alerts``. Delivery is at least once: a send is recorded before it goes out,
and a delivery a crash interrupted is taken over after its lease and finished. A dead
channel is logged, retried within bounds and recorded as failed; it never raises into a
flow.

Channel URLs carry their secrets (tokens, passwords); they come from settings as secrets
and are scrubbed from every recorded or logged error.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pandas as pd
from filelock import FileLock
from pydantic import SecretStr

from aaiti.config import AlertSettings, Settings, load_settings
from aaiti.ops import SEVERITIES, raise_alert
from aaiti.redact import redact_in_logs
from aaiti.warehouse import Warehouse
from aaiti.warehouse.sql import load_sql, run

log = logging.getLogger(__name__)
_SQL = "aaiti.monitoring"


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
class AppriseChannel:
    """One Apprise URL: Telegram, Slack, Discord, email, SMS, ntfy, a JSON webhook …"""

    name: str
    url: SecretStr
    timeout_s: float = 5.0

    def send(self, alert: Alert) -> None:
        import apprise

        plugin = apprise.Apprise.instantiate(self.url.get_secret_value())
        if plugin is None:
            scheme = self.url.get_secret_value().split("://", 1)[0]
            raise ChannelError(f"channel {self.name}: {scheme}:// is not a URL Apprise knows")
        plugin.socket_connect_timeout = plugin.socket_read_timeout = self.timeout_s
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            ok = plugin.notify(
                body=alert_body(alert),
                title=alert_title(alert),
                notify_type=apprise.NotifyType(_TYPE[alert.severity]),
            )
        if not ok:
            lines = [x for x in captured.getvalue().splitlines() if x.strip()]
            raise ChannelError(lines[-1].split(" - ", 2)[-1] if lines else "refused")


_TYPE = {"info": "info", "warning": "warning", "critical": "failure"}


def alert_title(alert: Alert) -> str:
    return f"[AAITI {alert.severity}] {alert.source}: {alert.message[:80]}"


def alert_body(alert: Alert) -> str:
    return (
        f"{alert.line()}\n\nsource: {alert.source}\nseverity: {alert.severity}\n"
        f"raised at: {alert.raised_at.isoformat()}\ndedup key: {alert.dedup_key}\n"
        f"alert id: {alert.alert_id}"
    )


@dataclass
class LogChannel:
    name: str = "log"

    def send(self, alert: Alert) -> None:
        level = {"critical": logging.ERROR, "warning": logging.WARNING}.get(
            alert.severity, logging.INFO
        )
        log.log(level, "alert %s", alert.line())


def channels_from(rules: AlertSettings) -> list[Channel]:
    """The log, plus one Apprise channel per configured URL."""
    redact_in_logs(_secrets(rules), ("apprise", "urllib3.connectionpool", "httpx"))
    channels: list[Channel] = [LogChannel()]
    taken: dict[str, int] = {"log": 1}
    for name, url in channel_urls(rules):
        taken[name] = taken.get(name, 0) + 1
        label = name if taken[name] == 1 else f"{name}-{taken[name]}"
        channels.append(AppriseChannel(label, url, rules.timeout_s))
    return channels


def channel_urls(rules: AlertSettings) -> list[tuple[str, SecretStr]]:
    """(channel name, Apprise URL): ``alert_urls`` named by their scheme, and the
    single-channel settings (webhook, Slack, Discord, SMTP) as the URLs they stand for."""
    return [(name or _scheme_name(url.get_secret_value()), url) for name, url in _urls(rules)]


def _urls(rules: AlertSettings) -> list[tuple[str | None, SecretStr]]:
    """The configured URLs, named where a single-channel setting names them."""
    out: list[tuple[str | None, SecretStr]] = [(None, u) for u in rules.urls]
    if rules.webhook_url is not None:
        url = rules.webhook_url.get_secret_value()
        out.append(("webhook", SecretStr(url.replace("http", "json", 1))))  # https → jsons
    for name, hook in (
        ("slack", rules.slack_webhook_url),
        ("discord", rules.discord_webhook_url),
    ):
        if hook is not None:
            out.append((name, hook))  # Apprise reads their webhook URLs as they are
    if rules.smtp_host and rules.email_to:
        out.append(("email", SecretStr(_mailto(rules))))
    return out


def _scheme_name(url: str) -> str:
    """The channel's name: the URL's scheme (``tgram``, ``json`` …), or for a service's own
    webhook URL (https://hooks.slack.com/…) the service's scheme."""
    import apprise

    scheme = url.split("://", 1)[0].lower()
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return scheme or "unknown"
    names: list[str] = []
    for attr in (plugin.protocol, plugin.secure_protocol):
        names += [attr] if isinstance(attr, str) else list(map(str, attr or ()))
    return scheme if scheme in names else str(names[0] if names else scheme)


def _mailto(rules: AlertSettings) -> str:
    from urllib.parse import quote, urlencode

    user = ""
    if rules.smtp_user:
        password = rules.smtp_password
        secret = f":{quote(password.get_secret_value(), safe='')}" if password else ""
        user = f"{quote(rules.smtp_user, safe='')}{secret}@"
    query = {"from": rules.email_from, "to": ",".join(rules.email_to)}
    scheme = "mailto"
    if rules.smtp_starttls:
        scheme, query["mode"] = "mailtos", "starttls"
    host = f"{rules.smtp_host}:{rules.smtp_port}"
    return f"{scheme}://{user}{host}?{urlencode(query)}"


def _secrets(rules: AlertSettings) -> list[str]:
    """Every part of a channel URL that may be a credential: the URL whole, its user
    information, and each path segment and query value."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    values = [u for _, u in _urls(rules)]  # not instantiated: Apprise logs the URL
    if rules.smtp_password is not None:
        values.append(rules.smtp_password)
    out: set[str] = set()
    for secret in values:
        url = secret.get_secret_value()
        out.add(url)
        parts = urlsplit(url)
        pieces = [parts.password or "", parts.username or "", *parts.path.split("/")]
        pieces += [v for _, v in parse_qsl(parts.query)]
        out |= {unquote(p) for p in pieces if len(p) >= 6 and "@" not in p}
    return sorted(out, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<secret>")
    return text


@dataclass
class DeliveryReport:
    alerts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # status -> count
    resent: int = 0  # sends a crash had interrupted, made again


FINAL = ("sent", "failed", "duplicate", "rate_limited")


@dataclass
class Ledger:
    """Sends that count for dedup and the rate limit, updated as delivery goes."""

    last_sent: dict[tuple[str, str], datetime] = field(default_factory=dict)
    sent_times: dict[str, list[datetime]] = field(default_factory=dict)

    @classmethod
    def of(cls, history: list[tuple[str, str, datetime]]) -> Ledger:
        ledger = cls()
        for channel, key, at in history:
            ledger.sent(channel, key, at)
        return ledger

    def sent(self, channel: str, key: str, at: datetime) -> None:
        self.last_sent[(channel, key)] = max(at, self.last_sent.get((channel, key), at))
        self.sent_times.setdefault(channel, []).append(at)


def decide(
    alert: Alert,
    channel: str,
    *,
    progress: dict[tuple[str, str], tuple[str, int]],
    ledger: Ledger,
    rules: AlertSettings,
    now: datetime,
) -> str | None:
    """What delivery does for one alert on one channel: None (already final, or below the
    channel's severity floor), 'duplicate', 'rate_limited', 'send' or 'resend' (a send a
    crash interrupted: it is made again whatever the dedup, so it is not lost)."""
    status, _ = progress.get((alert.alert_id, channel), (None, 0))
    if status in FINAL:
        return None
    if status == "sending":
        return "resend"
    floor = SEVERITIES.index(rules.min_severity)
    if channel != "log" and SEVERITIES.index(alert.severity) < floor:
        return None
    previous = ledger.last_sent.get((channel, alert.dedup_key))
    if previous is not None and (now - previous).total_seconds() < rules.dedup_window_s:
        return "duplicate"
    recent = [t for t in ledger.sent_times.get(channel, []) if t > now - timedelta(hours=1)]
    if channel != "log" and len(recent) >= rules.rate_limit_per_hour:
        return "rate_limited"
    return "send"


_Outcome = tuple[str, str, int, str | None]  # channel, status, attempts, error


def deliver_pending(
    settings: Settings,
    *,
    warehouse: Warehouse | None = None,
    channels: list[Channel] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Claim undelivered alerts (and those of a delivery that crashed), send them, record
    the outcomes. At least once: each send is recorded as 'sending' before it goes out and
    its outcome after; an alert is done when every channel has a final outcome. Never
    raises for a channel."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    _import_spool(spool_path(settings), warehouse)
    rules = settings.alert
    channels = channels if channels is not None else channels_from(rules)
    secrets = _secrets(rules)
    pending, progress, ledger = _claim(warehouse, rules)
    report = DeliveryReport(alerts=len(pending))
    for alert in pending:
        plan = {
            c.name: decide(alert, c.name, progress=progress, ledger=ledger, rules=rules,
                           now=datetime.now(UTC))
            for c in channels
        }  # fmt: skip
        to_send = [c for c in channels if plan[c.name] in ("send", "resend")]
        tries = {name: progress.get((alert.alert_id, name), (None, 0))[1] for name in plan}
        sending: list[_Outcome] = [(c.name, "sending", tries[c.name], None) for c in to_send]
        _record(warehouse, alert, sending, plan)
        rows: list[_Outcome] = [(n, str(w), 0, None) for n, w in plan.items() if w in FINAL]
        rows += [_send_one(c, alert, rules, sleep, ledger, tries[c.name], secrets)
                 for c in to_send]  # fmt: skip
        _record(warehouse, alert, rows, plan, done=True)
        for _, status, _, _ in rows:
            report.outcomes[status] = report.outcomes.get(status, 0) + 1
        report.resent += sum(plan[c.name] == "resend" for c in to_send)
    return report


def _send_one(
    channel: Channel,
    alert: Alert,
    rules: AlertSettings,
    sleep: Callable[[float], None],
    ledger: Ledger,
    tried: int,
    secrets: list[str],
) -> tuple[str, str, int, str | None]:
    """(channel, status, attempts so far, scrubbed error) of one send, the ledger updated."""
    status, attempts, error = _send(channel, alert, rules, sleep)
    if error:
        error = scrub(error, secrets)
        log.warning("alert channel %s failed for %s: %s", channel.name, alert.alert_id, error)
    if status == "sent":
        ledger.sent(channel.name, alert.dedup_key, datetime.now(UTC))
    return channel.name, status, tried + attempts, error


def _claim(
    warehouse: Warehouse, rules: AlertSettings
) -> tuple[list[Alert], dict[tuple[str, str], tuple[str, int]], Ledger]:
    now = datetime.now(UTC)
    lease = now - timedelta(seconds=rules.claim_lease_s)
    with warehouse.writer(purpose="claim alerts") as con:
        pending = [
            Alert(str(r[0]), r[1], r[2], r[3], r[4], r[5])
            for r in con.sql(load_sql(_SQL, "alerts_claim"), params=[now, lease]).fetchall()
        ]
        ids = [a.alert_id for a in pending]
        progress = {
            (str(a), c): (st, n)
            for a, c, st, n in con.sql(load_sql(_SQL, "alerts_progress"), params=[ids]).fetchall()
        }
        since = now - timedelta(seconds=max(rules.dedup_window_s, 3600.0))
        history = con.sql(load_sql(_SQL, "alerts_recent_sent"), params=[since]).fetchall()
    return pending, progress, Ledger.of(history)


def _record(
    warehouse: Warehouse,
    alert: Alert,
    rows: list[tuple[str, str, int, str | None]],
    plan: dict[str, str | None],
    *,
    done: bool = False,
) -> None:
    """One transaction: the channels' states (before or after the sends), and, after,
    the alert marked delivered."""
    if not rows and not done:
        return
    at = datetime.now(UTC)
    frame = pd.DataFrame(
        [
            {
                "alert_id": alert.alert_id,
                "raised_at": alert.raised_at,
                "source": alert.source,
                "severity": alert.severity,
                "dedup_key": alert.dedup_key,
                "message": alert.message,
                "channel": channel,
                "status": status,
                "attempts": attempts,
                "error": error,
                "handled_at": at,
                "resends": int(plan.get(channel) == "resend"),
            }
            for channel, status, attempts, error in rows
        ]
    )
    with warehouse.writer(purpose="record alerts") as con:
        if len(frame):
            con.register("alert_outcomes", frame)
            run(con, load_sql(_SQL, "alerts_record"))
            con.unregister("alert_outcomes")
        if done:
            run(con, load_sql(_SQL, "alerts_done"), [at, [alert.alert_id]])


def _send(
    channel: Channel, alert: Alert, rules: AlertSettings, sleep: Callable[[float], None]
) -> tuple[str, int, str | None]:
    """(status, attempts, error): the send with bounded retries and exponential backoff."""
    error = None
    for attempt in range(1, rules.retries + 2):
        try:
            channel.send(alert)
        except Exception as err:  # a channel must never break the caller
            error = str(err) if isinstance(err, ChannelError) else f"{type(err).__name__}: {err}"
            if attempt <= rules.retries:
                sleep(rules.retry_backoff_s * 2 ** (attempt - 1))
            continue
        return "sent", attempt, None
    return "failed", rules.retries + 1, error


def notify(
    settings: Settings,
    *,
    source: str,
    severity: str,
    dedup_key: str,
    message: str,
    warehouse: Warehouse | None = None,
) -> DeliveryReport:
    """Raise one alert in its own transaction and deliver what is pending.

    When the outbox is out of reach (the warehouse held by a stuck writer, a full disk),
    the alert is sent at once and kept in a spool file; the next delivery records it."""
    warehouse = warehouse or Warehouse.from_settings(settings)
    try:
        with warehouse.writer(purpose=f"alert {source}") as con:
            raise_alert(con, source=source, severity=severity, dedup_key=dedup_key,
                        message=message)  # fmt: skip
    except Exception as err:  # the alert must still reach a person
        alert = Alert(str(uuid.uuid4()), datetime.now(UTC), source, severity, dedup_key, message)
        log.error("alert outbox out of reach (%s): sending %s directly", err, alert.alert_id)
        return _send_unrecorded(settings.alert, spool_path(settings), alert)
    return deliver_pending(settings, warehouse=warehouse)


def spool_path(settings: Settings) -> Path:
    """Alerts sent while the outbox was out of reach, until a delivery records them."""
    return settings.data_dir / "run" / "alerts-spool.jsonl"


def _send_unrecorded(rules: AlertSettings, path: Path, alert: Alert) -> DeliveryReport:
    report = DeliveryReport(alerts=1)
    floor = SEVERITIES.index(rules.min_severity)
    outcomes: list[_Outcome] = []
    for channel in channels_from(rules):
        if channel.name != "log" and SEVERITIES.index(alert.severity) < floor:
            continue
        status, attempts, error = _send(channel, alert, rules, time.sleep)
        outcomes.append(
            (channel.name, status, attempts, scrub(error, _secrets(rules)) if error else None)
        )
        report.outcomes[status] = report.outcomes.get(status, 0) + 1
    entry = {**asdict(alert), "raised_at": alert.raised_at.isoformat(), "outcomes": outcomes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=10), path.open("a") as out:
            out.write(json.dumps(entry) + "\n")
    except Exception:  # a full disk: sent, but it cannot be kept for the record
        log.exception("alert %s was sent but could not be spooled", alert.alert_id)
    return report


def _import_spool(path: Path, warehouse: Warehouse) -> int:
    """Record the alerts sent while the outbox was out of reach (idempotent by alert id),
    then empty the spool."""
    if not path.exists():
        return 0
    with FileLock(str(path) + ".lock", timeout=10):
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        with warehouse.writer(purpose="record spooled alerts") as con:
            known = {str(r[0]) for r in con.sql("SELECT alert_id FROM ops.alerts").fetchall()}
            for e in entries:
                if e["alert_id"] in known:
                    continue
                run(con, load_sql(_SQL, "alerts_import"),
                    [e["alert_id"], datetime.fromisoformat(e["raised_at"]), e["source"],
                     e["severity"], e["dedup_key"], e["message"]])  # fmt: skip
        for e in entries:
            alert = Alert(e["alert_id"], datetime.fromisoformat(e["raised_at"]), e["source"],
                          e["severity"], e["dedup_key"], e["message"])  # fmt: skip
            rows: list[_Outcome] = [(c, st, n, er) for c, st, n, er in e["outcomes"]]
            _record(warehouse, alert, rows, {}, done=True)
        path.unlink()
    return len(entries)


def main(argv: list[str] | None = None) -> int:
    """``python -m aaiti.monitoring.alerts SOURCE SEVERITY DEDUP_KEY MESSAGE``: one alert
    raised and delivered by a short-lived process, with the settings of its environment.

    The supervisor raises its alerts this way: the outbox needs pandas, DuckDB and the
    channels (~160 MB), which a process that runs for days should not keep for one alert."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4 or args[1] not in SEVERITIES:
        print(f"usage: python -m aaiti.monitoring.alerts SOURCE {'|'.join(SEVERITIES)} "
              "DEDUP_KEY MESSAGE", file=sys.stderr)  # fmt: skip
        return 2
    source, severity, dedup_key, message = args
    report = notify(load_settings(), source=source, severity=severity, dedup_key=dedup_key,
                    message=message)  # fmt: skip
    print(json.dumps(asdict(report)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
