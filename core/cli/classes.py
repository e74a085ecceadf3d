"""``edgeslim-cli runs classes ID``: per-class accuracy of a run's baseline and final model, and what changed.

Registered after ``core.cli.runs`` (it adds an action to the ``runs`` group);
the comparison is the core service :mod:`core.app.compare_classes`.
"""

from __future__ import annotations

import argparse

from core.cli.common import StderrProgress, _print_json

SHOWN_CHANGES = 20  # changed images listed in the human output (all of them in --json)


def cmd_runs_classes(args: argparse.Namespace) -> int:
    from core.app.compare_classes import CompareClassesRequest, compare_classes
    from core.cli.workspace import workspace_path

    progress = StderrProgress(enabled=not args.quiet)
    request = CompareClassesRequest(args.id, workspace_path(args.workspace), trust=args.trust, thumbnails=0)
    result = compare_classes(request, progress.emit)
    progress.done()
    if args.json:
        _print_json({"run_id": args.id, **result.to_dict()})
        return 0
    print(render(result))
    return 0


def render(result) -> str:
    """The per-class table (most lost first), the totals, and the first changed images."""
    from core import fmt

    def pct(v) -> str:
        return "—" if v is None else f"{100 * v:.2f}"

    rows = [[r.name, str(r.count), pct(r.before), pct(r.after), "—" if r.delta is None else f"{r.delta:+.2f}"]
            for r in result.rows_by_delta()]
    lines = [fmt.table(["class", "images", "before %", "after %", "Δ pt"], rows, "lrrrr"),
             f"top-1 {100 * result.top1_before:.2f} % → {100 * result.top1_after:.2f} % on {result.n} images; "
             f"{len(result.changed)} changed prediction"]
    names = result.class_names
    for c in result.changed[:SHOWN_CHANGES]:
        verdict = "fixed" if c.fixed else "broken" if c.broken else "still wrong"
        lines.append(f"  image {c.index}: true {names[c.label]}, {names[c.before]} → {names[c.after]} ({verdict})")
    if len(result.changed) > SHOWN_CHANGES:
        lines.append(f"  … and {len(result.changed) - SHOWN_CHANGES} more (all of them with --json)")
    return "\n".join(lines)


def _runs_actions(sub) -> argparse._SubParsersAction:
    """The sub-command list of the ``runs`` group (registered before this module)."""
    runs = sub.choices.get("runs")
    actions = [a for a in getattr(runs, "_actions", []) if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        raise RuntimeError("core.cli.classes must be registered after core.cli.runs")
    return actions[0]


def add_commands(sub) -> None:
    q = _runs_actions(sub).add_parser("classes", help="per-class accuracy before and after, and the images that changed prediction")
    q.add_argument("--workspace", metavar="W", help="workspace folder (default: the user's EdgeSlim workspace)")
    q.add_argument("--json", action="store_true", help="print one JSON object (every class, both confusion matrices, every change)")
    q.add_argument("id", type=int)
    q.add_argument("--trust", action="store_true",
                   help="allow loading the run's baseline if it is a full pickle (asked again every time; never stored)")
    q.add_argument("--quiet", action="store_true", help="no progress on stderr")
    q.set_defaults(func=cmd_runs_classes)
