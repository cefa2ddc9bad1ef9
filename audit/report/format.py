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


def with_interval(estimate: float | None, interval: list[float] | None, signed: bool = False) -> str:
    """A fraction in percent with its 95% half-width: '54.1 ± 3.4' ('+7.6 ± 3.1' signed).
    The half-width is the larger distance to the interval's ends (they may be uneven)."""
    if estimate is None:
        return DASH
    value = f"{100 * estimate:+.1f}" if signed else f"{100 * estimate:.1f}"
    if not interval:
        return value
    half = max(abs(estimate - interval[0]), abs(interval[1] - estimate))
    return f"{value} ± {100 * half:.1f}"


def middle_truncate(text: str, width: int) -> str:
    """'layer4.1.downsample.0' -> 'layer4…sample.0' within ``width`` characters."""
    if width < 3 or len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[-(width - 1 - head) :]


def kind_abbreviation(kind: str) -> str:
    """Short forms for a narrow table: 'depthwise' -> 'dw', 'grouped (g=4)' -> 'g4'..."""
    parts = []
    for tag in (t.strip() for t in kind.split(",")):
        if tag in ("standard", "groups unknown"):
            continue
        if tag == "depthwise":
            parts.append("dw")
        elif tag.startswith("grouped (g="):
            parts.append("g" + tag[len("grouped (g=") : -1])
        elif tag.startswith("dilated"):
            parts.append("d" + tag.split()[1])
        elif tag == "transposed":
            parts.append("T")
        else:
            parts.append(tag)
    return " ".join(parts)


def signed(value: float | None) -> str:
    """A correlation with its sign: '+0.71'; None -> 'n/a'."""
    return "n/a" if value is None else f"{value:+.2f}"


def rho_text(rho: float | None, low: float | None, high: float | None) -> str:
    """'+0.71 [+0.45, +0.86]'."""
    if rho is None:
        return "n/a"
    return f"{rho:+.2f} [{signed(low)}, {signed(high)}]"


def label(statistic: str) -> str:
    """A zoo statistic's name for people: 'first-layer HFER'."""
    from audit.spectral.statistics import STATISTICS

    return STATISTICS[statistic].label if statistic in STATISTICS else statistic
