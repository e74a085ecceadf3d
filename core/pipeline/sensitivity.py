"""Per-layer sensitivity: which layers a compression step should leave alone.

Compressing every layer the same way is rarely best: a few layers carry most of
the accuracy. Measuring each layer on its own tells the recipe which ones to
skip before a long run is spent finding out.

* Pruning (:func:`prune_sensitivity`): each channel group is pruned alone on a
  copy of the model (``prune.structured`` with every other group in
  ``ignore_layers``) and the validation accuracy measured. Torch-Pruning
  couples layers whose channels must go together (the convs feeding one
  residual add), so those are measured once, as a group, and each member's row
  names the group.
* Quantization (:func:`quant_sensitivity`): ``exclude_one`` quantizes all but
  one layer (the points that keeping it fp32 wins back), ``only_one``
  quantizes one layer alone (the points it costs by itself), ``error`` compares
  fp32 and int8 activations in one pass with ONNX Runtime's QDQ debugging tools
  (no accuracy per layer, but seconds instead of minutes).

The :class:`SensitivityReport` turns the table into one recipe step: the layers
whose score passes a threshold go into ``ignore_layers`` / ``exclude_nodes``.

The code lives in ``sensitivity_common`` (the report), ``sensitivity_prune``,
``sensitivity_quant`` and ``sensitivity_error``; this module is their public face.
"""

from __future__ import annotations

from core.pipeline.sensitivity_common import PRUNE, QUANT, QUANT_METHODS, SensitivityReport
from core.pipeline.sensitivity_prune import prune_groups, prune_sensitivity
from core.pipeline.sensitivity_quant import quant_sensitivity

__all__ = ["PRUNE", "QUANT", "QUANT_METHODS", "SensitivityReport", "prune_groups", "prune_sensitivity", "quant_sensitivity"]
