"""Who may see and who may act: dashboard users with roles, and the stack's service login.

On loopback the stack needs no login, as before. Bound anywhere else, every service must
have its authentication configured or ``make up`` refuses with one line saying what is
missing: people log in to the dashboard (``AAITI_DASHBOARD_USERS``: ``name:role:hash``,
roles ``viewer`` and ``operator``; only an operator halts or resumes, audited under their
name), and the machine-facing services — the Prefect API and UI, the MLflow UI and the
metrics endpoint — take HTTP basic auth with ``AAITI_STACK_AUTH`` (``user:password``).

Passwords are stored only as PBKDF2-SHA256 hashes (``aaiti auth hash``), compared in
constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from functools import cache

from aaiti.config import Settings
from aaiti.errors import InputError

ROLES = ("viewer", "operator")
ITERATIONS = 310_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256


class AuthConfigError(InputError):
    """Authentication settings that cannot be used; the message says what is accepted."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    @property
    def operator(self) -> bool:
        return self.role == "operator"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``."""
    if not password:
        raise AuthConfigError("an empty password cannot be hashed")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, expected = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(_b64(digest), expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def dashboard_users(settings: Settings) -> dict[str, User]:
    """The configured users by name (entries ``name:role:hash``)."""
    users = {}
    for entry in settings.dashboard_users:
        parts = entry.get_secret_value().split(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[2].startswith("pbkdf2_sha256$"):
            raise AuthConfigError(
                "AAITI_DASHBOARD_USERS entries are name:role:hash, the hash from "
                "`aaiti auth hash` (one entry starts with "
                f"{parts[0][:12]!r})"
            )
        name, role, digest = parts
        if role not in ROLES:
            raise AuthConfigError(
                f"dashboard user {name!r} has role {role!r}; accepted: {', '.join(ROLES)}"
            )
        users[name] = User(name, role, digest)
    return users


def login(settings: Settings, name: str, password: str) -> User | None:
    """The user whose name and password these are, else None (same work either way)."""
    user = dashboard_users(settings).get(name)
    ok = verify_password(password, user.password_hash if user else _dummy())
    return user if user and ok else None


@cache
def _dummy() -> str:
    return hash_password("x", salt=b"0" * 16)


def stack_credentials(settings: Settings) -> tuple[str, str] | None:
    """(user, password) of the machine-facing services, when configured."""
    if settings.stack_auth is None:
        return None
    user, sep, password = settings.stack_auth.get_secret_value().partition(":")
    if not sep or not user or not password:
        raise AuthConfigError("AAITI_STACK_AUTH is user:password (both non-empty)")
    return user, password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problems(settings: Settings, components: list[str]) -> list[str]:
    """What a non-loopback bind lacks for ``components``; empty when it may start."""
    if is_loopback(settings.bind_host):
        return []
    missing = []
    if "dashboard" in components and not dashboard_users(settings):
        missing.append("the dashboard needs AAITI_DASHBOARD_USERS (name:role:hash)")
    machine = [c for c in components if c in ("prefect", "mlflow", "metrics")]
    if machine and stack_credentials(settings) is None:
        missing.append(f"{', '.join(machine)} need AAITI_STACK_AUTH (user:password)")
    return missing


def basic_auth_header(credentials: tuple[str, str]) -> dict[str, str]:
    token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
