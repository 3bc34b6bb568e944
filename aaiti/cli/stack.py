"""``aaiti stack up|status|down``: the local stack from one command (``aaiti-serve``, beside
the flows, serves the deployments)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aaiti.cli.errors import cli_errors
from aaiti.cli.settings import command_settings
from aaiti.errors import StateError

stack_app = typer.Typer(
    help="The local stack: Prefect server, MLflow UI, dashboard, schedules, metrics."
)


def _repo() -> Path:
    return Path.cwd()


@stack_app.command("up")
def up(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="prefect, mlflow, dashboard, serve, metrics, supervisor (repeatable)."
        ),
    ] = None,
) -> None:
    """Start what is not running, wait for each health check, print the URLs."""
    from aaiti.stack import COMPONENTS, StackError
    from aaiti.stack import up as stack_up

    bad = [c for c in only or [] if c not in COMPONENTS]
    if bad:
        typer.echo(
            f"error: unknown component(s) {bad}; accepted: {', '.join(COMPONENTS)}", err=True
        )
        raise typer.Exit(2)
    with cli_errors():
        settings = command_settings()
        try:
            urls = stack_up(settings, repo=_repo(), only=only)
        except StackError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
    typer.echo("")
    labels = {
        "prefect": "Prefect UI",
        "mlflow": "MLflow UI",
        "dashboard": "dashboard",
        "serve": "deployments",
        "metrics": "Prometheus metrics",
        "supervisor": "supervisor",
    }
    for name, url in urls.items():
        typer.echo(f"  {labels[name]:<19} {url}")
    typer.echo(f"  {'SQL':<19} duckdb -readonly {settings.serving_path}")
    typer.echo("  stop with: make down")


@stack_app.command("status")
def status() -> None:
    """What runs, by pid file, and whether it answers."""
    from aaiti.stack import status as stack_status

    for name, state in stack_status(command_settings(), repo=_repo()).items():
        typer.echo(f"{name:<10} {state}")


@stack_app.command("supervise", hidden=True)
def supervise() -> None:
    """Restart the stack's services that die (started by `up`, stopped first by `down`)."""
    from aaiti.supervisor import run_forever

    run_forever(command_settings(), repo=_repo())  # settings `up` has already checked


@stack_app.command("down")
def down() -> None:
    """Stop exactly what `up` started (by pid file, never by name)."""
    from aaiti.stack import down as stack_down

    result = stack_down(command_settings())
    for name, state in result.items():
        typer.echo(f"{name:<10} {state}")
    if not result:
        typer.echo("nothing was running")


def metrics(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: AAITI_BIND_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: AAITI_METRICS_PORT).")] = None,
) -> None:
    """Serve Prometheus metrics read from the snapshot and the Prefect API at scrape time."""
    import threading

    from aaiti.auth import AuthConfigError, exposure_problems
    from aaiti.monitoring.metrics import serve_metrics

    with cli_errors():
        settings = command_settings()
        where, at = host or settings.bind_host, port or settings.metrics_port
        problems = exposure_problems(settings.model_copy(update={"bind_host": where}), ["metrics"])
        if problems:
            raise AuthConfigError(f"refusing to bind {where} (not loopback): {problems[0]}")
        try:
            server, _ = serve_metrics(settings, host=where, port=at)
        except OSError as err:
            raise StateError(f"cannot listen on {where}:{at}: {err.strerror or err}") from None
        typer.echo(f"metrics at http://{where}:{server.server_port}/metrics")
    threading.Event().wait()  # until stopped (make down sends SIGTERM)


auth_app = typer.Typer(help="Logins for the stack off loopback.", no_args_is_help=True)


@auth_app.command("hash")
def hash_password(
    user: Annotated[str, typer.Option(help="The user's name.")],
    role: Annotated[str, typer.Option(help="viewer or operator.")] = "viewer",
) -> None:
    """Print a dashboard login (name:role:hash) for AAITI_DASHBOARD_USERS; the password is
    asked for (or read from stdin) and never stored in clear."""
    import sys

    from aaiti.auth import ROLES, AuthConfigError
    from aaiti.auth import hash_password as hashed

    with cli_errors():
        if role not in ROLES:
            raise AuthConfigError(f"unknown role {role!r}; accepted: {', '.join(ROLES)}")
        if ":" in user or not user.strip():
            raise AuthConfigError(f"user name {user!r} must be non-empty and hold no ':'")
        if sys.stdin.isatty():
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\n")
        typer.echo(f"{user}:{role}:{hashed(password)}")
