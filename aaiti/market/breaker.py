"""A circuit breaker per exchange: stop hammering an exchange that keeps failing.

Closed → open after ``threshold`` consecutive failures. While open every call fails fast.
After the cool-down one probe is let through (half-open): success closes the breaker,
failure re-opens it with the cool-down doubled, capped at 10× the base. The state is a
plain dataclass so it can be persisted in ``ops.breaker_state`` between runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from aaiti.market.errors import CircuitOpenError

MAX_COOLDOWN_FACTOR = 10.0


@dataclass(frozen=True)
class BreakerState:
    exchange: str
    state: str = "closed"  # closed | open | half_open
    consecutive_failures: int = 0
    open_count: int = 0
    opened_at: float | None = None  # epoch seconds
    cooldown_s: float = 0.0
    last_error: str | None = None


class CircuitBreaker:
    def __init__(
        self,
        state: BreakerState,
        *,
        threshold: int,
        base_cooldown_s: float,
        clock: Callable[[], float] = time.time,
        on_open: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.state = state if state.cooldown_s else replace(state, cooldown_s=base_cooldown_s)
        self.threshold = threshold
        self.base_cooldown_s = base_cooldown_s
        self.clock = clock
        self.on_open = on_open

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` while open; move to half-open once cooled down."""
        s = self.state
        if s.state == "open":
            waited = self.clock() - (s.opened_at or 0.0)
            if waited < s.cooldown_s:
                raise CircuitOpenError(
                    f"circuit breaker for {s.exchange} is open after "
                    f"{s.consecutive_failures} consecutive failures (last: {s.last_error}); "
                    f"next attempt in {s.cooldown_s - waited:.1f} s"
                )
            self.state = replace(s, state="half_open")

    def record_success(self) -> None:
        self.state = replace(
            self.state,
            state="closed",
            consecutive_failures=0,
            open_count=0,
            opened_at=None,
            cooldown_s=self.base_cooldown_s,
        )

    def record_failure(self, error: str) -> None:
        s = self.state
        failures = s.consecutive_failures + 1
        if s.state == "half_open" or failures >= self.threshold:
            if s.state == "half_open" or s.open_count > 0:
                cooldown = min(s.cooldown_s * 2, self.base_cooldown_s * MAX_COOLDOWN_FACTOR)
            else:
                cooldown = self.base_cooldown_s
            self.state = replace(
                s,
                state="open",
                consecutive_failures=failures,
                open_count=s.open_count + 1,
                opened_at=self.clock(),
                cooldown_s=cooldown,
                last_error=error[:500],
            )
            if self.on_open:
                self.on_open(self.state)
        else:
            self.state = replace(s, consecutive_failures=failures, last_error=error[:500])
