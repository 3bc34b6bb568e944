"""Alert channels against real loopback receivers: an HTTP server for the JSON, Slack and
Discord webhooks, and an SMTP server (aiosmtpd) for email."""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from pydantic import SecretStr

from aaiti.monitoring.alerts import deliver_pending, notify, raise_alert
from aaiti.trading.engine import halt

TOKEN = "T0KEN-9f8e7d"  # webhook URLs carry their secret in the path, as Slack's do


@dataclass
class Receiver:
    posts: list[tuple[str, dict]] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)  # path prefix -> 500s to answer
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prefix = self.path.split("/")[1]
            with state.lock:
                if state.fail_first.get(prefix, 0) > 0:
                    state.fail_first[prefix] -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                state.posts.append((self.path, body))
            self.send_response(204 if prefix == "discord" else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def with_channels(settings, receiver, smtp_port=None, **extra):
    update = {
        "alert_webhook_url": SecretStr(f"{receiver.url}/hook/{TOKEN}"),
        "alert_slack_webhook_url": SecretStr(f"{receiver.url}/slack/{TOKEN}"),
        "alert_discord_webhook_url": SecretStr(f"{receiver.url}/discord/{TOKEN}"),
        "alert_retry_backoff_s": 0.0,
        **extra,
    }
    if smtp_port:
        update |= {
            "alert_smtp_host": "127.0.0.1",
            "alert_smtp_port": smtp_port,
            "alert_email_to": ["desk@example.org"],
        }
    return settings.model_copy(update=update)


def outcomes(settings):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.sql(
            "SELECT dedup_key, channel, status, attempts, error FROM monitoring.alerts "
            "ORDER BY handled_at, channel"
        ).fetchall()
    finally:
        con.close()


def test_a_halt_reaches_every_channel_with_its_content(settings, warehouse, receiver, smtp, caplog):
    inbox, port = smtp
    s = with_channels(settings, receiver, port)
    warehouse.migrate()
    caplog.set_level(logging.DEBUG)
    halt(s, actor="ops-desk", reason="exchange outage", warehouse=warehouse)
    report = deliver_pending(s, warehouse=warehouse)
    assert report.alerts == 1 and report.outcomes == {"sent": 5}
    by_path = {path.split("/")[1]: body for path, body in receiver.posts}
    assert by_path["hook"]["severity"] == "critical" and by_path["hook"]["source"] == "risk"
    assert "exchange outage (by ops-desk)" in by_path["hook"]["message"]
    assert by_path["slack"]["text"].startswith("[CRITICAL] risk: paper: ")
    assert "exchange outage" in by_path["discord"]["content"]
    ((rcpt, content),) = inbox.messages
    assert rcpt == ["desk@example.org"] and "Subject: [AAITI critical] risk:" in content
    assert "exchange outage (by ops-desk)" in content
    assert {c for _, c, st, _, _ in outcomes(s) if st == "sent"} == {
        "log", "webhook", "slack", "discord", "email",
    }  # fmt: skip
    assert TOKEN not in caplog.text
    assert deliver_pending(s, warehouse=warehouse).alerts == 0  # delivered once


def test_a_dead_channel_is_retried_within_bounds_recorded_and_never_raises(
    settings, warehouse, receiver
):
    s = with_channels(
        settings, receiver, alert_retries=2, alert_webhook_url=SecretStr(
            f"http://127.0.0.1:{free_port()}/hook/{TOKEN}"  # nothing listens there
        ),
    )  # fmt: skip
    receiver.fail_first["slack"] = 2  # Slack answers 500 twice, then takes it
    report = notify(
        s,
        source="drift",
        severity="warning",
        dedup_key="d1",
        message="drifted",
        warehouse=warehouse,
    )
    assert report.outcomes == {"sent": 3, "failed": 1}
    rows = {c: (st, n, err) for _, c, st, n, err in outcomes(s)}
    assert rows["webhook"][:2] == ("failed", 3) and "Connect" in rows["webhook"][2]
    assert rows["slack"] == ("sent", 3, None)
    assert all(TOKEN not in (err or "") for _, _, err in rows.values())


def test_dedup_rate_limit_and_severity_floor(settings, warehouse, receiver):
    s = with_channels(settings, receiver, alert_rate_limit_per_hour=2)
    warehouse.migrate()
    with warehouse.writer() as con:
        raise_alert(con, source="quality", severity="warning", dedup_key="k1", message="one")
        raise_alert(con, source="quality", severity="warning", dedup_key="k1", message="again")
        raise_alert(con, source="quality", severity="critical", dedup_key="k2", message="two")
        raise_alert(con, source="quality", severity="critical", dedup_key="k3", message="three")
        raise_alert(con, source="quality", severity="info", dedup_key="k4", message="fyi")
    deliver_pending(s, warehouse=warehouse)
    slack = [(k, st) for k, c, st, _, _ in outcomes(s) if c == "slack"]
    assert sorted(slack) == [
        ("k1", "duplicate"),
        ("k1", "sent"),
        ("k2", "sent"),
        ("k3", "rate_limited"),
    ]  # fmt: skip  (k4 is info: below the floor, the log only)
    log_rows = [(k, st) for k, c, st, _, _ in outcomes(s) if c == "log"]
    assert ("k4", "sent") in log_rows and ("k3", "sent") in log_rows  # the log is not limited
    texts = [b.get("text") for p, b in receiver.posts if p.startswith("/slack")]
    assert texts == ["[WARNING] quality: one", "[CRITICAL] quality: two"]


def test_unknown_severity_is_refused(settings, warehouse):
    warehouse.migrate()
    with (
        pytest.raises(ValueError, match="not one of info, warning, critical"),
        warehouse.writer() as con,
    ):
        raise_alert(con, source="x", severity="urgent", dedup_key="k", message="m")
