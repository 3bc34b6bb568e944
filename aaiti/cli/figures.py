"""How the command line writes a figure: one home for the CLI's number formats."""

from __future__ import annotations


def signed_pct(x: float | None) -> str:
    """A return or a drawdown: +12.3%; an undefined one as a dash."""
    return "—" if x is None else f"{x:+.1%}"


def ratio(x: float | None) -> str:
    """A Sharpe ratio or a p-value to two places; an undefined one as a dash."""
    return "—" if x is None else f"{x:.2f}"
