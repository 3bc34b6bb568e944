"""Authentication beyond loopback: the stack refuses to expose a service without its login,
and with AAITI_STACK_AUTH the Prefect API, the MLflow UI and the metrics endpoint each
answer 401 without it and serve with it (started as `make up` starts them)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from aaiti.auth import basic_auth_header, hash_password, login, verify_password
from aaiti.cli import app
from aaiti.config import load_settings

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_passwords_are_stored_as_salted_hashes_and_checked(tmp_path):
    h = hash_password("correct horse")
    assert h.startswith("pbkdf2_sha256$") and "correct" not in h
    assert h != hash_password("correct horse")  # salted
    assert verify_password("correct horse", h) and not verify_password("Correct horse", h)
    s = load_settings(data_dir=tmp_path, dashboard_users=f"ann:operator:{h}")
    assert login(s, "ann", "correct horse").operator
    assert login(s, "ann", "wrong") is None and login(s, "bob", "correct horse") is None
    made = runner.invoke(app, ["auth", "hash", "--user", "vic", "--role", "viewer"],
                         input="vic's password\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    name, role, digest = made.output.strip().split(":", 2)
    assert (name, role) == ("vic", "viewer") and verify_password("vic's password", digest)


def test_binding_beyond_loopback_without_logins_is_refused_in_one_line(tmp_path):
    env = {"AAITI_DATA_DIR": str(tmp_path / "data"), "AAITI_BIND_HOST": "0.0.0.0"}
    result = runner.invoke(app, ["stack", "up"], env=env)
    assert result.exit_code == 2
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: refusing to bind 0.0.0.0")
    assert "AAITI_DASHBOARD_USERS" in lines[0] and "AAITI_STACK_AUTH" in lines[0]
    assert not (tmp_path / "data" / "run").exists()  # nothing started
    alone = runner.invoke(app, ["metrics", "--host", "0.0.0.0"], env=env)
    assert alone.exit_code == 2 and "AAITI_STACK_AUTH" in alone.output
    from aaiti.auth import exposure_problems

    s = load_settings(data_dir=tmp_path, bind_host="0.0.0.0",
                      dashboard_users=f"ann:operator:{hash_password('x')}")  # fmt: skip
    assert exposure_problems(s, ["dashboard"]) == []  # the dashboard has what it needs
    assert exposure_problems(s, ["dashboard", "metrics"]) == [
        "metrics need AAITI_STACK_AUTH (user:password)"
    ]
    assert exposure_problems(s.model_copy(update={"bind_host": "127.0.0.1"}), ["metrics"]) == []


@pytest.mark.integration
def test_with_stack_auth_each_service_answers_401_without_it_and_serves_with_it(tmp_path):
    from aaiti.stack import down, up

    ports = {k: free_port() for k in ("prefect", "mlflow", "metrics")}
    settings = load_settings(
        data_dir=tmp_path / "data", stack_auth="ops:S3cret-stack",
        prefect_port=ports["prefect"], mlflow_port=ports["mlflow"],
        metrics_port=ports["metrics"],
    )  # fmt: skip
    good = basic_auth_header(("ops", "S3cret-stack"))
    bad = basic_auth_header(("ops", "guess"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AAITI_STACK_AUTH", "ops:S3cret-stack")  # the exporter reads it too
        mp.setenv("AAITI_DATA_DIR", str(settings.data_dir))
        mp.setenv("PREFECT_HOME", str(settings.prefect_home))
        try:
            up(settings, repo=REPO, only=["prefect", "mlflow", "metrics"], timeout_s=180)
            checks = {
                "prefect": ("POST", f"http://127.0.0.1:{ports['prefect']}/api/flows/filter",
                            {"json": {}}),
                "mlflow": ("GET", f"http://127.0.0.1:{ports['mlflow']}/api/2.0/mlflow/"
                           "experiments/search?max_results=1", {}),
                "metrics": ("GET", f"http://127.0.0.1:{ports['metrics']}/metrics", {}),
            }  # fmt: skip
            for name, (method, url, extra) in checks.items():
                assert httpx.request(method, url, timeout=10, **extra).status_code == 401, name
                wrong = httpx.request(method, url, headers=bad, timeout=10, **extra)
                assert wrong.status_code == 401, name
                ok = httpx.request(method, url, headers=good, timeout=10, **extra)
                assert ok.status_code == 200, (name, ok.text[:200])
            scraped = httpx.get(checks["metrics"][1], headers=good, timeout=10).text
            assert "aaiti_prefect_up 1.0" in scraped  # the exporter logs in to Prefect
        finally:
            down(settings)
