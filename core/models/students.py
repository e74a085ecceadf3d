"""Lightweight architectures to distil into or train from scratch, adapted to the task at hand.

Every entry is built for the teacher's number of classes and input size. The
torchvision families are designed for 224×224 ImageNet input and downsample by
32; on small images (CIFAR-sized, the demo's 32×32) that leaves a 1×1 map after
a few layers, so for inputs under 96 pixels the stem's stride is set to 1 and
an initial max-pool is removed (the usual CIFAR adaptation). Every family takes
a width multiplier (``core.models.student_builders``) and :func:`fit_width`
picks the widest one that keeps the student at most half the teacher's size: a
student larger than its teacher is no compression. MobileNetV3's BatchNorm
momentum (0.01, tuned for ImageNet's 5,000 steps an epoch) is raised to
PyTorch's 0.1, or a student trained a few hundred steps evaluates on running
statistics that are still mostly their initial values (chance accuracy).
``describe`` gives params and MACs before anything trains. A student can
start from weights (:func:`start_from`): a state_dict file, or torchvision's
cached ImageNet weights; a head for another class count is replaced.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from core.errors import EdgeSlimError

SMALL_INPUT = 96  # below this many pixels on the short side, adapt the stem
BUDGET = 0.5  # an automatic width keeps the student at most this fraction of the teacher's params
WIDTHS = (1.0, 0.75, 0.5, 0.35, 0.25, 0.2, 0.15, 0.1, 0.075, 0.05)  # what fit_width tries, widest first
BN_MOMENTUM = 0.1


@dataclass(frozen=True)
class StudentArch:
    """One catalogue entry."""

    name: str
    label: str
    family: str  # "torchvision" | "demo"
    tv_name: str = ""  # torchvision builder name
    demo_width: int = 0  # channels of a demo-family student's first stage


CATALOGUE: dict[str, StudentArch] = {
    a.name: a
    for a in (
        StudentArch("demo_w4", "Demo ResNet, width 4", "demo", demo_width=4),
        StudentArch("demo_w8", "Demo ResNet, width 8", "demo", demo_width=8),
        StudentArch("demo_w12", "Demo ResNet, width 12", "demo", demo_width=12),
        StudentArch("mobilenet_v3_small", "MobileNetV3-Small", "torchvision", "mobilenet_v3_small"),
        StudentArch("mobilenet_v3_large", "MobileNetV3-Large", "torchvision", "mobilenet_v3_large"),
        StudentArch("mobilenet_v2", "MobileNetV2", "torchvision", "mobilenet_v2"),
        StudentArch("shufflenet_v2_x0_5", "ShuffleNetV2 ×0.5", "torchvision", "shufflenet_v2_x0_5"),
        StudentArch("shufflenet_v2_x1_0", "ShuffleNetV2 ×1.0", "torchvision", "shufflenet_v2_x1_0"),
        StudentArch("squeezenet1_1", "SqueezeNet 1.1 + BatchNorm", "torchvision", "squeezenet1_1"),
        StudentArch("resnet18", "ResNet-18", "torchvision", "resnet18"),
        StudentArch("resnet34", "ResNet-34", "torchvision", "resnet34"),
        StudentArch("efficientnet_b0", "EfficientNet-B0", "torchvision", "efficientnet_b0"),
    )
}
NAMES = tuple(CATALOGUE)


def get_arch(name: str) -> StudentArch:
    if name in CATALOGUE:
        return CATALOGUE[name]
    close = difflib.get_close_matches(name, NAMES, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise EdgeSlimError(f"no student architecture named {name!r}", f"{hint}choose one of: {', '.join(NAMES)}")


def _adapt_small_input(model: nn.Module) -> list[str]:
    """Stride-1 stem and no initial max-pool, for inputs under ``SMALL_INPUT`` pixels; returns what changed."""
    changed = []
    stem_name, stem = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), (None, None))
    if stem is not None and stem.stride != (1, 1):
        stem.stride = (1, 1)
        changed.append(f"{stem_name}: stride 2 → 1")
    for name, m in list(model.named_modules()):
        if isinstance(m, nn.MaxPool2d):
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attr, nn.Identity())
            changed.append(f"{name}: max-pool removed")
            break  # only the first (stem) pool
    return changed


def build_student(
    name: str, num_classes: int, input_shape: tuple[int, int, int], width: float = 1.0, seed: int = 0
) -> tuple[nn.Module, list[str]]:
    """A freshly initialised student for ``num_classes`` and ``input_shape``, and notes on how it was adapted."""
    arch = get_arch(name)
    if not width > 0:
        raise EdgeSlimError(f"width {width} is not a channel multiplier", "give a width above 0 (1.0 = the published network)")
    notes: list[str] = []
    torch.manual_seed(seed)
    in_ch, h, w = input_shape
    if arch.family == "demo":
        from core.models.demo_net import DemoNetConfig, DemoResNet

        channels = max(2, int(round(arch.demo_width * width)))
        model: nn.Module = DemoResNet(DemoNetConfig(num_classes=num_classes, width=channels, in_channels=in_ch))
        if width != 1.0:
            notes.append(f"width ×{width:g}: {channels} channels in the first stage")
        return model.eval(), notes
    from core.models.student_builders import build_torchvision_student

    model = build_torchvision_student(arch.tv_name, num_classes, width)
    if in_ch != 3:
        stem_name, stem = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
        parent_name, _, attr = stem_name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, nn.Conv2d(in_ch, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=stem.bias is not None))
        notes.append(f"{stem_name}: {in_ch} input channels")
    if min(h, w) < SMALL_INPUT:
        notes += _adapt_small_input(model)
    slow = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.momentum or 1.0) < BN_MOMENTUM]
    for m in slow:
        m.momentum = BN_MOMENTUM
    if slow:
        notes.append(f"BatchNorm momentum raised to {BN_MOMENTUM} in {len(slow)} layers (running statistics settle within an epoch)")
    if width != 1.0:
        notes.append(f"width ×{width:g}")
    return model.eval(), notes


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def fit_width(name: str, num_classes: int, input_shape: tuple[int, int, int], teacher_params: int) -> float:
    """The widest multiplier (at most 1) whose student has at most ``BUDGET`` of the teacher's params.

    When no width on the ladder gets there, the narrowest one still smaller than
    the teacher; when none is smaller at all, the narrowest (the step's summary
    then says how many times larger the student is).
    """
    if teacher_params <= 0:
        return 1.0
    sizes = []
    for width in WIDTHS:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            params = count_params(build_student(name, num_classes, input_shape, width)[0])
        if params <= BUDGET * teacher_params:
            return width
        sizes.append((width, params))
    smaller = [w for w, p in sizes if p < teacher_params]
    return smaller[0] if smaller else WIDTHS[-1]


def size_words(teacher_params: int, student_params: int) -> str:
    """How the student compares with the teacher, in words that cannot be misread ("4.0× fewer", "8.7× larger")."""
    if student_params <= 0 or teacher_params <= 0:
        return "size not comparable"
    if student_params < teacher_params:
        ratio = teacher_params / student_params
        return f"{ratio:.2f}× fewer params than the teacher" if ratio < 1.1 else f"{ratio:.1f}× fewer params than the teacher"
    if student_params == teacher_params:
        return "as many params as the teacher"
    ratio = student_params / teacher_params
    return f"{ratio:.2f}× larger than the teacher" if ratio < 1.1 else f"{ratio:.1f}× larger than the teacher"


@dataclass(frozen=True)
class StudentInfo:
    name: str
    label: str
    params: int
    macs: Optional[int]
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "params": self.params, "macs": self.macs, "notes": list(self.notes)}


def describe(name: str, num_classes: int, input_shape: tuple[int, int, int], width: float = 1.0) -> StudentInfo:
    """Params and MACs of a student before it trains (what the GUI shows next to the choice)."""
    from core.models.macs import count_macs

    model, notes = build_student(name, num_classes, input_shape, width)
    params = sum(p.numel() for p in model.parameters())
    try:
        macs: Optional[int] = count_macs(model, input_shape)
    except Exception:  # a student too deep for a tiny input fails here, and says so at build time
        macs = None
    return StudentInfo(name, get_arch(name).label, params, macs, tuple(notes))


def student_head_keys(name: str, num_classes: int, input_shape: tuple[int, int, int], width: float = 1.0) -> tuple[str, ...]:
    """state_dict keys of the student whose shape depends on the class count (its classifier head)."""
    with torch.device("meta"):
        a = build_student(name, num_classes, input_shape, width)[0].state_dict()
        b = build_student(name, num_classes + 1, input_shape, width)[0].state_dict()
    return tuple(k for k in a if k in b and a[k].shape != b[k].shape)


def pretrained_file(name: str) -> Path:
    """torchvision's cached ImageNet weights for the student ``name``; an EdgeSlimError naming the file when absent."""
    from core.models.torchvision_zoo import cached_torchvision_weights, hub_checkpoints, weight_file_names

    arch = get_arch(name)
    if arch.family != "torchvision" or not weight_file_names(arch.tv_name):
        raise EdgeSlimError(f"the student {name} has no torchvision ImageNet weights",
                            "set pretrained = false, or give student_weights = \"FILE\"")
    path = cached_torchvision_weights(arch.tv_name)
    if path is None:
        expected = hub_checkpoints() / weight_file_names(arch.tv_name)[0]
        raise EdgeSlimError(
            f"pretrained = true needs torchvision's ImageNet weights for {arch.tv_name} at {expected}, and there is no such file "
            "(EdgeSlim never downloads)",
            f"copy the file there (on a machine with internet: torchvision.models.get_model('{arch.tv_name}', weights='DEFAULT') "
            "downloads it; set TORCH_HOME to use another cache folder), or give student_weights = \"FILE\"",
        )
    return path


def start_from(module: nn.Module, name: str, num_classes: int, input_shape: tuple[int, int, int], width: float, path: Path) -> str:
    """Load the weights in ``path`` into the student ``module``; returns the note saying what was loaded.

    Every layer but the classifier must fit (the published width: 1; three
    input channels); a classifier for another class count is left newly
    initialised.
    """
    from core.models.load import read_state_dict
    from core.models.state_dict import head_note, load_with_new_head

    path = Path(path).expanduser()
    if not path.is_file():
        raise EdgeSlimError(f"no such student weights file: {path}", "check the student_weights path")
    fix = f"give weights saved from a {get_arch(name).label} at width 1 (student_weights), for 3-channel input"
    if width != 1.0:
        fix = f"set width = 1 (the weights are for the published network), or {fix}"
    classes = load_with_new_head(module, read_state_dict(path), student_head_keys(name, num_classes, input_shape, width), path.name, fix)
    return head_note(path.name, classes)
