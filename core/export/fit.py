"""Does a model fit a target? What does not, in words the user can act on.

Each problem names the budget, the need, the limit and a next step that
EdgeSlim can take (quantize, prune, a narrower student, a smaller input), so a
failed check leads somewhere. Known-unsupported ops are problems; ops the
profile does not list as known-good are warnings, since profiles cannot track
every vendor tool release.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

from core import fmt
from core.export.estimate import Estimate
from core.export.targets import FORMATS, TargetProfile

TIGHT = 0.85  # a budget used beyond this share leaves little for the rest of the application


@dataclass
class FitIssue:
    kind: str  # format | precision | storage | ram | op
    message: str


@dataclass
class FitReport:
    """The verdict for one model file on one target."""

    target: str
    fits: bool
    problems: list[FitIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    storage_share: Optional[float] = None  # need / budget
    ram_share: Optional[float] = None
    storage_word: str = "storage"  # "flash" on microcontrollers
    ops_warning: str = ""  # the warning (one of ``warnings``) about ops the profile does not list, as data for views

    def summary(self) -> str:
        if self.fits:
            shares = ((self.storage_word, self.storage_share), ("RAM", self.ram_share))
            parts = [f"{name} {100 * share:.1f} % used" for name, share in shares if share is not None]
            return "fits" + (f" ({', '.join(parts)})" if parts else "")
        return "does not fit: " + "; ".join(p.message for p in self.problems)

    def to_dict(self) -> dict:
        return {"target": self.target, "fits": self.fits, "summary": self.summary(),
                "problems": [asdict(p) for p in self.problems], "warnings": list(self.warnings),
                "storage_share": self.storage_share, "ram_share": self.ram_share, "storage_word": self.storage_word,
                "ops_warning": self.ops_warning}


def _storage_word(profile: TargetProfile) -> str:
    return "flash" if profile.kind == "mcu" else "storage"


def check_format(profile: TargetProfile, fmt_name: str) -> list[FitIssue]:
    """Can the target take a ``fmt_name`` file at all (format and the precision it computes in)?"""
    if fmt_name in profile.formats:
        return []
    precision = FORMATS.get(fmt_name, "?")
    wanted = [f for f in profile.formats if f != "pt2"] or list(profile.formats)
    if precision not in profile.precisions and profile.device_precision(precision) is None:
        how = " (static int8 quantization, calibrated on your data)" if wanted[0] == "onnx-int8" else ""
        return [FitIssue("precision", f"precision: {profile.label} runs {', '.join(profile.precisions)} only and {fmt_name} is {precision} — "
                                      f"export with --format {wanted[0]}{how}")]
    return [FitIssue("format", f"format: {profile.label} does not take {fmt_name} files ({profile.runtime.split(':')[0]}) — "
                               f"export with --format {' or '.join(profile.formats)}")]


def check_budgets(profile: TargetProfile, est: Estimate) -> tuple[list[FitIssue], list[str], float, float]:
    """Storage and RAM against the estimate: (problems, warnings, storage share, RAM share)."""
    problems: list[FitIssue] = []
    warnings: list[str] = []
    int8_possible = est.precision != "int8" and ("int8" in profile.precisions)
    word = _storage_word(profile)
    storage_share = est.storage_bytes / profile.memory.storage_bytes
    if storage_share > 1:
        hint = ("quantize to int8 (--format onnx-int8, about 4× smaller than fp32) or prune more channels" if int8_possible
                else "prune more channels (prune.structured) or distil into a narrower student (distill.kd)")
        problems.append(FitIssue("storage", f"{word}: needs {fmt.size(est.storage_bytes)} for the model, "
                                            f"target has {fmt.size(profile.memory.storage_bytes)} — {hint}"))
    elif storage_share > TIGHT:
        warnings.append(f"{word}: the model takes {100 * storage_share:.0f} % of it ({fmt.size(est.storage_bytes)} of "
                        f"{fmt.size(profile.memory.storage_bytes)}), leaving little for the rest of the application")
    ram_share = est.ram_bytes / profile.memory.ram_bytes
    if ram_share > 1:
        what = f"{fmt.size(est.peak_activation_bytes)} of activations"
        if profile.weights_in_ram:
            what += f" + {fmt.size(est.weight_bytes)} of weights"
        hint = "try a smaller input size or a narrower student"
        if int8_possible:
            hint += ", or int8 (activations 4× smaller than fp32)"
        problems.append(FitIssue("ram", f"RAM: needs {what}, target has {fmt.size(profile.memory.ram_bytes)} — {hint}"))
    elif ram_share > TIGHT:
        warnings.append(f"RAM: the model takes {100 * ram_share:.0f} % of it ({fmt.size(est.ram_bytes)} of "
                        f"{fmt.size(profile.memory.ram_bytes)}), leaving little for the rest of the application")
    return problems, warnings, storage_share, ram_share


def check_ops(profile: TargetProfile, op_types: Iterable[str]) -> tuple[list[FitIssue], list[str]]:
    """Ops the target is known not to run (problems) and ops it is not known to run (warnings)."""
    counts = Counter(op_types)
    problems = [
        FitIssue("op", f"ops: {profile.label} cannot run {op} ({n} node{'s' if n > 1 else ''}) — replace it in the model "
                       "or run that part on the host")
        for op, n in sorted(counts.items()) if op in profile.ops.unsupported
    ]
    warnings = []
    if profile.ops.supported:
        unknown = sorted(op for op in counts if op not in profile.ops.supported and op not in profile.ops.unsupported)
        if unknown:
            warnings.append(f"ops not on this profile's list of known-supported ops: {', '.join(unknown)} — "
                            f"check them with the vendor tool. {profile.ops.notes}".strip())
    return problems, warnings


def check_int8_scheme(profile: TargetProfile, proto) -> tuple[list[FitIssue], list[str]]:
    """Whether an int8 QDQ graph uses the quantization the target requires (TensorRT: symmetric int8)."""
    from onnx import numpy_helper

    q = profile.quantization
    if not q.symmetric and q.types[0] != "S":
        return [], []
    inits = {i.name: i for i in proto.graph.initializer}
    unsigned = nonzero = 0
    for node in proto.graph.node:
        if node.op_type != "QuantizeLinear" or len(node.input) < 3 or node.input[2] not in inits:
            continue
        zp = numpy_helper.to_array(inits[node.input[2]])
        unsigned += zp.dtype.kind == "u"
        nonzero += bool(zp.any()) and zp.dtype.kind != "u"
    issues: list[str] = []
    if unsigned:
        issues.append(f"{unsigned} activation(s) are uint8")
    if q.symmetric and nonzero:
        issues.append(f"{nonzero} activation(s) have non-zero zero points")
    if not issues:
        return [], []
    wanted = "symmetric signed int8 (zero points 0)" if q.symmetric else "signed int8"
    verb = "needs" if q.required else "works best with"
    text = (f"precision: {profile.label} {verb} {wanted} and {' and '.join(issues)} — export the model from before "
            f"quantization and let the export quantize it for this target ({q.types}{', symmetric' if q.symmetric else ''})")
    return ([FitIssue("precision", text)], []) if q.required else ([], [text])


def check_fit(
    profile: TargetProfile,
    fmt_name: str,
    est: Optional[Estimate] = None,
    op_types: Iterable[str] = (),
    proto=None,
) -> FitReport:
    """Everything that stops ``fmt_name`` file from running on ``profile``, and what is tight."""
    problems = check_format(profile, fmt_name)
    warnings: list[str] = []
    storage_share = ram_share = None
    if est is not None:
        p, w, storage_share, ram_share = check_budgets(profile, est)
        problems += p
        warnings += w
    p, ops_warnings = check_ops(profile, op_types)
    problems += p
    warnings += ops_warnings
    if proto is not None and FORMATS.get(fmt_name) == "int8":
        p, w = check_int8_scheme(profile, proto)
        problems += p
        warnings += w
    return FitReport(profile.name, not problems, problems, warnings, storage_share, ram_share, _storage_word(profile),
                     ops_warnings[0] if ops_warnings else "")
