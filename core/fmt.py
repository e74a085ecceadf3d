"""Human-readable numbers for tables in the CLI and the GUI."""

from __future__ import annotations


def si(n: float | int | None, unit: str = "") -> str:
    """1234567 -> '1.23 M' (params, MACs)."""
    if n is None:
        return "—"
    n = float(n)
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def size(n: int | None) -> str:
    """Bytes as KiB / MiB."""
    if n is None:
        return "—"
    for factor, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= factor:
            return f"{n / factor:.2f} {suffix}"
    return f"{n} B"


def parse_shape(text: str) -> tuple[int, int, int]:
    """'3,224,224' or '3x224x224' -> (3, 224, 224): the input shape a user types (CLI flag or Model page field)."""
    try:
        dims = tuple(int(t) for t in text.replace(" ", "").replace("x", ",").split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) <= 0:
        raise ValueError(f"expected C,H,W such as 3,224,224, got {text!r}")
    return dims  # type: ignore[return-value]


def shape(s) -> str:
    if s is None:
        return "—"
    return "×".join(str(d) for d in s)


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """A plain-text table; ``align`` holds 'l' or 'r' per column."""
    align = align or "l" * len(headers)
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = []
        for c, w, a in zip(cells, widths, align):
            out.append(str(c).rjust(w) if a == "r" else str(c).ljust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])
