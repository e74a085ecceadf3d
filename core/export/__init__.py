"""Export for embedded targets: device profiles, fit checks and estimates, verified bundles.

``targets`` reads the device profiles, ``estimate`` and ``fit`` say whether a
model file fits one and how fast it may run, ``prepare`` makes the model file
in the target's format, ``parity`` proves the written file computes what the
model computed, and ``bundle`` puts it all in a folder for the device. Only the
light parts are imported here; ``core.export.bundle`` pulls in torch.
"""

from __future__ import annotations

from core.export.estimate import Estimate, estimate
from core.export.fit import FitIssue, FitReport, check_fit
from core.export.targets import FORMATS, TargetError, TargetProfile, get_target, list_targets, load_profile, user_dir

__all__ = [
    "FORMATS", "Estimate", "FitIssue", "FitReport", "TargetError", "TargetProfile", "check_fit", "estimate",
    "get_target", "list_targets", "load_profile", "user_dir",
]
