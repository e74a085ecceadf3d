"""The user's controls, named once: a flag in the CLI, a control in the window.

Core words a fix with :func:`ask` (``f"pass {ask('ignore_fit')} to export anyway"``
reads "pass --ignore-fit" in the CLI). The text keeps a marker around the control's
key; :func:`for_cli` and :func:`for_app` render it for each front-end, so the
window never rewrites CLI wording with regular expressions and a new flag is
named in one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN, _CLOSE = "\u27ea", "\u27eb"  # ⟪key⟫: never typed by a user, never in a path
_MARK = re.compile(f"{_OPEN}(\\+?)([a-z_]+){_CLOSE}")


@dataclass(frozen=True)
class Control:
    cli: str  # the flag, as typed
    app: str  # the control, as the window labels it
    verb: str = "set"  # what the window's user does to it: set, tick, choose, open


CONTROLS: dict[str, Control] = {
    "accept_host_key": Control("--accept-host-key", "“Trust this board's key” when the app shows its fingerprint", "tick"),
    "arch": Control("--arch", "the architecture (Open model → state_dict)", "choose"),
    "num_classes": Control("--num-classes", "“Classes” in the torchvision dialog (Model page → torchvision…)"),
    "weights": Control("--weights", "the “Weights file” in the torchvision dialog (Model page → torchvision…)", "choose"),
    "input_shape": Control("--input-shape", "“Input shape” on the Model page (then open the model again)"),
    "trust": Control("--trust", "“Trust this file” when the app asks", "tick"),
    "image_size": Control("--image-size", "“Image size” on the Data page"),
    "preset": Control("--preset", "the preprocessing on the Data page", "choose"),
    "labels": Control("--labels", "the labels file on the Data page", "choose"),
    "out": Control("--out", "the output folder", "choose"),
    "force": Control("--force", "“Replace the bundle in this folder”", "tick"),
    "ignore_fit": Control("--ignore-fit", "“Export anyway”", "tick"),
    "format": Control("--format", "the format", "choose"),
    "target": Control("--target", "the target device", "choose"),
    "workspace": Control("--workspace", "the workspace (File → Open workspace)", "open"),
    "technique": Control("--technique", "the technique on the Sensitivity page", "choose"),
    "method": Control("--method", "the method on the Sensitivity page", "choose"),
    "ratio": Control("--ratio", "the ratio on the Sensitivity page"),
    "importance": Control("--importance", "the channel ranking on the Sensitivity page", "choose"),
    "calibration_samples": Control("--calibration-samples", "the calibration images on the Sensitivity page"),
    "device": Control("--device", "“Train on” in the Compress page's Run box", "set"),
    "workers": Control("--workers", "the number of worker processes in the sweep dialog"),
    "cluster": Control("--cluster", "the Dask cluster address in the sweep dialog"),
    "data": Control("--data", "a dataset (Data page → Open)", "choose"),
    "model": Control("--model", "a model (Model page → Open)", "choose"),
    "batch": Control("--batch", "the latency batch size"),
    "threads": Control("--threads", "the number of CPU threads"),
    "repeats": Control("--repeats", "the number of timed runs"),
}


def ask(key: str, *, action: bool = True) -> str:
    """A marker for control ``key`` inside a message, rendered per front-end.

    With ``action`` it reads as what to do ("pass --force" / "tick “Replace …”"),
    without it as the control's name ("--force" / "“Replace …”").
    """
    if key not in CONTROLS:
        raise KeyError(f"unknown control {key!r}: add it to core.controls.CONTROLS")
    return f"{_OPEN}{'+' if action else ''}{key}{_CLOSE}"


def _render(text: str, side: str) -> str:
    def one(m: re.Match) -> str:
        control = CONTROLS[m.group(2)]
        name = getattr(control, side)
        if not m.group(1):
            return name
        return f"pass {name}" if side == "cli" else f"{control.verb} {name}"

    return _MARK.sub(one, text)


def for_cli(text: str) -> str:
    return _render(str(text), "cli")


def for_app(text: str) -> str:
    return _render(str(text), "app")
