"""Alert channels through Apprise: a JSON webhook and email end to end against real loopback
servers (an HTTP server, aiosmtpd); Slack, Discord, Telegram and ntfy, whose hosts are fixed
and out of reach, at the network edge — the exact HTTP request Apprise sends, captured in
requests' transport adapter. And delivery at least once: a delivery killed mid-send is
taken over after its lease."""

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

from aaiti.config import load_settings
from aaiti.monitoring.alerts import deliver_pending, notify
from aaiti.ops import raise_alert
from aaiti.trading.halt import halt

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
            if prefix == "hang":  # a receiver that takes the request and never answers
                state.posts.append((self.path, body))
                threading.Event().wait(60)
                return
            with state.lock:
                if state.fail_first.get(prefix, 0) > 0:
                    state.fail_first[prefix] -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                state.posts.append((self.path, body))
            self.send_response(200)
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
    """A JSON webhook as an Apprise URL, the same by the single webhook setting, and email
    by the SMTP settings (Apprise's mailto:// under the hood)."""
    update = {
        "alert_urls": [SecretStr(f"json://{receiver.url.split('//')[1]}/hook/{TOKEN}")],
        "alert_webhook_url": SecretStr(f"{receiver.url}/legacy/{TOKEN}"),
        "alert_retry_backoff_s": 0.0,
        **extra,
    }
    if smtp_port:
        update |= {
            "alert_smtp_host": "127.0.0.1",
            "alert_smtp_port": smtp_port,
            "alert_email_to": ["desk@example.org"],
        }
    return with_settings(settings, update)


def with_settings(settings, update):
    """``settings`` with ``update`` applied, named as the variables are: the alert
    section's fields go into the section."""
    alert = {k.removeprefix("alert_"): v for k, v in update.items() if k.startswith("alert_")}
    rest = {k: v for k, v in update.items() if not k.startswith("alert_")}
    return settings.model_copy(update={**rest, "alert": settings.alert.model_copy(update=alert)})


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
    assert report.alerts == 1 and report.outcomes == {"sent": 4}, report
    by_path = {path.split("/")[1]: body for path, body in receiver.posts}
    assert by_path["hook"] == by_path["legacy"]
    body = by_path["hook"]
    assert body["type"] == "failure" and body["title"].startswith("[AAITI critical] risk: ")
    assert "exchange outage (by ops-desk)" in body["message"]
    assert "dedup key: risk:paper:halt" in body["message"]
    ((rcpt, content),) = inbox.messages
    assert rcpt == ["desk@example.org"] and "Subject: [AAITI critical] risk:" in content
    assert "exchange outage (by ops-desk)" in content
    assert {c for _, c, st, _, _ in outcomes(s) if st == "sent"} == {
        "log", "json", "webhook", "email",
    }  # fmt: skip
    assert TOKEN not in caplog.text
    assert deliver_pending(s, warehouse=warehouse).alerts == 0  # delivered once


EDGE_TOKENS = ("TOKENslack0123", "TOKENdiscord45", "TOKENtelegram6", "TOKENntfy78901")


@pytest.fixture
def edge(monkeypatch):
    """requests' transport, replaced for the fixed hosts only: each request Apprise sends
    there is captured whole and answered as the service answers a success."""
    import requests
    from requests.adapters import HTTPAdapter

    answers = {
        "hooks.slack.com": (200, b"ok"),
        "discord.com": (204, b""),
        "api.telegram.org": (200, b'{"ok": true, "result": {"message_id": 1}}'),
        "ntfy.sh": (200, b'{"id": "a1", "event": "message"}'),
    }
    captured: list = []
    real_send = HTTPAdapter.send

    def send(self, request, **kwargs):
        host = requests.utils.urlparse(request.url).hostname
        if host not in answers:
            return real_send(self, request, **kwargs)
        captured.append(request)
        response = requests.Response()
        response.status_code, response._content = answers[host]
        response.url, response.request = request.url, request
        response.headers["Content-Type"] = "application/json"
        return response

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return captured


def test_fixed_host_services_get_the_exact_request_apprise_sends(settings, warehouse, edge):
    slack, discord, telegram, ntfy = EDGE_TOKENS
    urls = (
        f"https://hooks.slack.com/services/T0AAAA/B0BBBB/{slack} "
        f"https://discord.com/api/webhooks/123456/{discord} "
        f"tgram://123456789:{telegram}/987654 "
        f"ntfys://{ntfy}@ntfy.sh/aaiti-desk"
    )
    s = load_settings(data_dir=settings.data_dir, alert_urls=urls, alert_retry_backoff_s=0.0)
    report = notify(s, source="trading", severity="critical", dedup_key="k-edge",
                    message="ETH/USD is blocked", warehouse=warehouse)  # fmt: skip
    assert report.outcomes == {"sent": 5}, outcomes(s)
    sent = {
        requests_host(r.url): (r.method, r.url, json.loads(r.body) if r.body else None)
        for r in edge
    }
    method, url, body = sent["hooks.slack.com"]
    assert (method, url) == ("POST", f"https://hooks.slack.com/services/T0AAAA/B0BBBB/{slack}")
    assert "ETH/USD is blocked" in json.dumps(body)
    method, url, body = sent["discord.com"]
    assert url.startswith(f"https://discord.com/api/webhooks/123456/{discord}")
    assert "ETH/USD is blocked" in json.dumps(body)
    method, url, body = sent["api.telegram.org"]
    assert url == f"https://api.telegram.org/bot123456789:{telegram}/sendMessage"
    assert body["chat_id"] == 987654 and "ETH/USD is blocked" in body["text"]
    assert "ntfy.sh" in sent
    channels = {c for _, c, st, _, _ in outcomes(s) if st == "sent"}
    assert channels == {"log", "slack", "discord", "tgram", "ntfys"}


def requests_host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def test_a_dead_channel_is_retried_within_bounds_recorded_and_never_raises(
    settings, warehouse, receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    s = with_channels(
        settings, receiver, alert_retries=2, alert_webhook_url=SecretStr(
            f"http://127.0.0.1:{free_port()}/hook/{TOKEN}"  # nothing listens there
        ),
    )  # fmt: skip
    receiver.fail_first["hook"] = 2  # the JSON receiver answers 500 twice, then takes it
    report = notify(
        s,
        source="drift",
        severity="warning",
        dedup_key="d1",
        message="drifted",
        warehouse=warehouse,
    )
    assert report.outcomes == {"sent": 2, "failed": 1}
    rows = {c: (st, n, err) for _, c, st, n, err in outcomes(s)}
    assert rows["webhook"][:2] == ("failed", 3) and rows["webhook"][2]
    assert rows["json"] == ("sent", 3, None)
    assert all(TOKEN not in (err or "") for _, _, err in rows.values())
    assert TOKEN not in caplog.text


def test_dedup_rate_limit_and_severity_floor(settings, warehouse, receiver):
    s = with_channels(settings, receiver, alert_rate_limit_per_hour=2, alert_webhook_url=None)
    warehouse.migrate()
    with warehouse.writer() as con:
        raise_alert(con, source="quality", severity="warning", dedup_key="k1", message="one")
        raise_alert(con, source="quality", severity="warning", dedup_key="k1", message="again")
        raise_alert(con, source="quality", severity="critical", dedup_key="k2", message="two")
        raise_alert(con, source="quality", severity="critical", dedup_key="k3", message="three")
        raise_alert(con, source="quality", severity="info", dedup_key="k4", message="fyi")
    deliver_pending(s, warehouse=warehouse)
    hook = [(k, st) for k, c, st, _, _ in outcomes(s) if c == "json"]
    assert sorted(hook) == [
        ("k1", "duplicate"),
        ("k1", "sent"),
        ("k2", "sent"),
        ("k3", "rate_limited"),
    ]  # fmt: skip  (k4 is info: below the floor, the log only)
    log_rows = [(k, st) for k, c, st, _, _ in outcomes(s) if c == "log"]
    assert ("k4", "sent") in log_rows and ("k3", "sent") in log_rows  # the log is not limited
    titles = [b["title"] for p, b in receiver.posts if p.startswith("/hook")]
    assert titles == ["[AAITI warning] quality: one", "[AAITI critical] quality: two"]


def test_an_alert_raised_while_a_stuck_writer_holds_the_warehouse_still_reaches_a_person(
    settings, receiver
):
    """The outbox lives in the warehouse: held by a stuck writer, the alert is sent at once,
    spooled, and recorded (as sent: nobody hears it twice) by the next delivery."""
    from aaiti.monitoring.alerts import spool_path
    from aaiti.warehouse import Warehouse
    from aaiti.warehouse.lock import writer_lock

    s = with_channels(settings, receiver, alert_webhook_url=None, writer_lock_timeout_s=0.5)
    warehouse = Warehouse.from_settings(s)
    warehouse.migrate()
    held, release = threading.Event(), threading.Event()

    def stuck() -> None:
        with writer_lock(warehouse.lock_path, timeout_s=5, purpose="a stuck writer"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=stuck, daemon=True)
    holder.start()
    assert held.wait(10)
    report = notify(s, source="flow", severity="critical", dedup_key="flow:pipeline",
                    message="pipeline failed: the warehouse is held")  # fmt: skip
    assert report.outcomes == {"sent": 2}  # the log and the webhook, straight away
    assert [b["title"] for _, b in receiver.posts] == ["[AAITI critical] flow: pipeline failed: "
                                                       "the warehouse is held"]  # fmt: skip
    assert spool_path(s).exists()
    release.set()
    holder.join(10)
    deliver_pending(s, warehouse=warehouse)
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        kept = con.sql("SELECT dedup_key, delivered_at IS NOT NULL FROM ops.alerts").fetchall()
    finally:
        con.close()
    assert kept == [("flow:pipeline", True)] and not spool_path(s).exists()
    assert sorted((k, c, st) for k, c, st, _, _ in outcomes(s)) == [
        ("flow:pipeline", "json", "sent"), ("flow:pipeline", "log", "sent")]  # fmt: skip
    assert len(receiver.posts) == 1  # recorded, not sent again
    notify(s, source="flow", severity="critical", dedup_key="flow:pipeline", message="again")
    assert len(receiver.posts) == 1  # the dedup window knows the direct send


def test_an_unknown_channel_url_is_a_failed_channel_not_a_broken_flow(settings, warehouse):
    s = load_settings(data_dir=settings.data_dir, alert_urls=f"nosuch://{TOKEN}@host/x")
    report = notify(s, source="x", severity="critical", dedup_key="u", message="m",
                    warehouse=warehouse)  # fmt: skip
    assert report.outcomes == {"sent": 1, "failed": 1}
    ((_, channel, _, _, error),) = [r for r in outcomes(s) if r[2] == "failed"]
    assert channel == "nosuch" and "is not a URL Apprise knows" in error and TOKEN not in error


def test_a_delivery_killed_mid_send_is_taken_over_and_sent_at_least_once(
    settings, warehouse, receiver
):
    """A delivery process is SIGKILLed while its send is in flight (the receiver holds the
    request). The alert is not lost: once the lease has passed the next delivery takes it
    over and sends it again, counted as a resend, and a third delivery sends nothing."""
    import os
    import signal
    import subprocess
    import sys
    import time

    warehouse.migrate()
    hang = f"json://{receiver.url.split('//')[1]}/hang/{TOKEN}"
    env = {**os.environ, "AAITI_DATA_DIR": str(settings.data_dir), "AAITI_ALERT_URLS": hang}
    with warehouse.writer() as con:
        raise_alert(con, source="risk", severity="critical", dedup_key="k-crash", message="halt")
    code = "from aaiti.config import load_settings; from aaiti.monitoring.alerts import " \
        "deliver_pending; deliver_pending(load_settings())"  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while not receiver.posts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.posts, "the delivery never sent"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert {c: st for _, c, st, _, _ in outcomes(settings)} == {"json": "sending", "log": "sending"}
    ok = f"json://{receiver.url.split('//')[1]}/hook/{TOKEN}"
    s = load_settings(data_dir=settings.data_dir, alert_urls=ok, alert_claim_lease_s=3600.0)
    assert deliver_pending(s, warehouse=warehouse).alerts == 0  # the lease still holds
    s = with_settings(s, {"alert_claim_lease_s": 0.0})
    report = deliver_pending(s, warehouse=warehouse)
    # both channels were recorded 'sending' before the sends: both go again
    assert report.alerts == 1 and report.resent == 2 and report.outcomes == {"sent": 2}
    assert [b["title"] for p, b in receiver.posts if p.startswith("/hook")] == [
        "[AAITI critical] risk: halt"
    ]
    assert {c: st for _, c, st, _, _ in outcomes(s)} == {"json": "sent", "log": "sent"}
    assert deliver_pending(s, warehouse=warehouse).alerts == 0  # done: not sent a third time


def test_unknown_severity_is_refused(settings, warehouse):
    warehouse.migrate()
    with (
        pytest.raises(ValueError, match="not one of info, warning, critical"),
        warehouse.writer() as con,
    ):
        raise_alert(con, source="x", severity="urgent", dedup_key="k", message="m")
