"""PyInstaller runtime hook: let torchvision import beside the CPU build of torch.

The only torchvision wheels pip reaches for Linux are built against CUDA torch:
with the CPU build their C++ ops (nms, roi_align, ..., used by detection
models and torchvision.io) cannot load. torchvision copes with that, except
that ``torchvision/_meta_registrations.py`` registers fake kernels for
``torchvision::nms`` and ``::qnms`` unconditionally, which raises "operator
torchvision::nms does not exist" and fails ``import torchvision``.

Declaring those two schemas just before that module runs makes the import
succeed; the ops still have no kernel, so calling them raises torchvision's own
"Couldn't load custom C++ ops" error. EdgeSlim uses torchvision's
classification models and transforms only. torch is imported on demand, not at
start-up, so the window still appears before torch loads.
"""

import importlib.abc
import sys

_MODULE = "torchvision._meta_registrations"
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_LIBRARIES = []  # a torch.library.Library removes its definitions when garbage-collected


class _DeclareTorchvisionOps(importlib.abc.MetaPathFinder):
    """Runs once, when torchvision imports _meta_registrations; finds nothing itself."""

    def find_spec(self, name, path=None, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        import torchvision.extension

        if not torchvision.extension._has_ops():
            import torch

            library = torch.library.Library("torchvision", "DEF")
            for schema in _SCHEMAS:
                library.define(schema)
            _LIBRARIES.append(library)
        return None


sys.meta_path.insert(0, _DeclareTorchvisionOps())
