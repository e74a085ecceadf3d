"""A multi-input ONNX model is named as such (issue 15, item 13), not blamed on the preset or input shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.errors import ModelLoadError
from core.models import load_model


class TwoInputs(nn.Module):
    """An image and a second tensor (as detection or multimodal models take)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 5)

    def forward(self, image: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(image).mean(dim=(2, 3))) * scale


def test_two_input_onnx_names_its_inputs(tmp_path):
    path = tmp_path / "two.onnx"
    torch.onnx.export(TwoInputs().eval(), (torch.randn(1, 3, 16, 16), torch.ones(1, 1)), str(path),
                      input_names=["image", "scale"], output_names=["logits"], dynamo=False)
    with pytest.raises(ModelLoadError) as info:
        load_model(str(path))
    err = info.value
    assert "has 2 inputs (image, scale)" in err.problem
    assert "one image input" in err.problem
    assert "single image input" in err.fix
