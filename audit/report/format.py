"""Numbers as people read them, the same in the report, the terminal and CI files."""

from __future__ import annotations

DASH = "—"  # a number that was not measured


def number(value: float | None, digits: int = 3) -> str:
    """0.4537 -> '0.454'; None -> '—'."""
    return DASH if value is None else f"{value:.{digits}f}"


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as percent without the sign: 0.6596 -> '66.0'; None -> '—'."""
    return DASH if value is None else f"{100 * value:.{digits}f}"


def short(value: float | None) -> str:
    """A threshold or gate value with 4 significant digits: 0.0200 -> '0.02'."""
    return DASH if value is None else f"{value:.4g}"
