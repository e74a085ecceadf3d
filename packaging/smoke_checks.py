"""Checks ``build.sh`` runs on the frozen bundle: screenshot, start-up time, stored runs, bundle size.

Each check prints one line and exits non-zero when it fails, so the build
stops with the reason. Run with the build environment's Python (it needs Pillow).

    python packaging/smoke_checks.py screenshot shot.png --size 1280x800
    python packaging/smoke_checks.py timing run1.log run2.log run3.log
    python packaging/smoke_checks.py runs runs.json --status done --at-least 1
    python packaging/smoke_checks.py sizes dist/EdgeSlim --top 10
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

WINDOW_LINE = re.compile(r"window shown ([0-9.]+) s after the process started")
MIN_COLOURS = 40  # a rendered window has text, icons and widgets: far more colours than this
MAX_ONE_COLOUR = 0.97  # share of the pixels one colour may cover before the picture counts as blank


def fail(message: str) -> int:
    print(f"FAIL: {message}")
    return 1


def check_screenshot(path: Path, size: str) -> int:
    """The PNG exists, has the window's size, and is not one flat colour (Qt rendered widgets)."""
    from PIL import Image

    if not path.is_file():
        return fail(f"no screenshot at {path}")
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    want = tuple(int(v) for v in size.split("x"))
    if rgb.size != want:
        return fail(f"{path.name} is {rgb.size[0]}x{rgb.size[1]}, expected {size}")
    colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
    top = max(count for count, _ in colours) / (rgb.width * rgb.height)
    if len(colours) < MIN_COLOURS or top > MAX_ONE_COLOUR:
        return fail(f"{path.name} looks blank: {len(colours)} colours, one covers {top:.0%}")
    print(f"ok: {path.name} {size}, {len(colours)} colours")
    return 0


def check_timing(logs: list[Path]) -> int:
    """Median of the ``--timing`` lines of several starts (seconds from exec to the first painted window)."""
    values = []
    for log in logs:
        match = WINDOW_LINE.search(log.read_text(errors="replace"))
        if not match:
            return fail(f"no 'window shown' line in {log}")
        values.append(float(match.group(1)))
    listed = ", ".join(f"{v:.2f}" for v in values)
    print(f"start-up to window: median {statistics.median(values):.2f} s ({listed})")
    return 0


def check_runs(path: Path, status: str, at_least: int) -> int:
    """``edgeslim-cli runs list --json`` holds enough runs with the status (the worker child really ran)."""
    data = json.loads(path.read_text())
    runs = data.get("runs", data) if isinstance(data, dict) else data
    matching = [r for r in runs if r.get("status") == status]
    if len(matching) < at_least:
        return fail(f"{len(matching)} {status} run(s) in the workspace, expected {at_least}: {runs}")
    print(f"ok: {len(matching)} {status} run(s) stored by the worker process")
    return 0


def component(rel: Path) -> str:
    """Group a bundle file under the package or library it belongs to."""
    parts = rel.parts
    if parts[0] == "_internal" and len(parts) > 2:
        return f"_internal/{parts[1]}"
    return str(rel)


def bundle_sizes(folder: Path, top: int) -> int:
    """Total size and the largest components (packages under _internal, single libraries, executables)."""
    totals: dict[str, int] = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            key = component(path.relative_to(folder))
            totals[key] = totals.get(key, 0) + path.stat().st_size
    total = sum(totals.values())
    print(f"bundle {folder}: {total / 2**20:.0f} MiB in {sum(1 for p in folder.rglob('*') if p.is_file())} files")
    for name, size in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {size / 2**20:8.1f} MiB  {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smoke_checks", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="check", required=True)
    q = sub.add_parser("screenshot")
    q.add_argument("png", type=Path)
    q.add_argument("--size", default="1280x800")
    q = sub.add_parser("timing")
    q.add_argument("logs", type=Path, nargs="+")
    q = sub.add_parser("runs")
    q.add_argument("json", type=Path)
    q.add_argument("--status", default="done")
    q.add_argument("--at-least", type=int, default=1)
    q = sub.add_parser("sizes")
    q.add_argument("folder", type=Path)
    q.add_argument("--top", type=int, default=10)
    args = p.parse_args(argv)
    if args.check == "screenshot":
        return check_screenshot(args.png, args.size)
    if args.check == "timing":
        return check_timing(args.logs)
    if args.check == "runs":
        return check_runs(args.json, args.status, args.at_least)
    return bundle_sizes(args.folder, args.top)


if __name__ == "__main__":
    sys.exit(main())
