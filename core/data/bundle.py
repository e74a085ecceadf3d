"""What a loaded dataset looks like to the rest of EdgeSlim."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from torch.utils.data import DataLoader, Dataset

SPLITS = ("train", "val", "calib")


@dataclass(frozen=True)
class Preprocessing:
    """How raw images become the model's input tensor (exported with bundles)."""

    name: str  # preset name: "imagenet", "as-is", "demo", "cifar", "mnist"
    resize: Optional[int] = None  # shorter side, pixels; None = keep
    crop: Optional[int] = None  # centre crop, pixels; None = none
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    channel_order: str = "RGB"
    scale: float = 1.0 / 255.0  # raw pixel -> [0, 1] before mean/std

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DatasetBundle:
    """Train / validation / calibration splits of one dataset, with its classes.

    Each split is a map-style dataset of ``(float tensor C×H×W, int label)``.
    Calibration samples come from the training side, never from validation, so
    quantization never sees the images it is scored on.
    """

    spec: str
    name: str
    class_names: list[str]
    input_shape: tuple[int, int, int]  # (C, H, W) after preprocessing
    train: Dataset
    val: Dataset
    calib: Dataset
    preprocessing: Preprocessing
    notes: list[str] = field(default_factory=list)
    label_map: Optional[Any] = None  # core.data.labels.LabelMap when the labels are a model's output indices

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> Dataset:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}

    def preview(self, split: str = "val", n: int = 48, seed: int = 0) -> list[tuple["np.ndarray", str]]:
        """Up to ``n`` samples spread over the split, un-normalised to uint8 H×W×3, with labels."""
        import numpy as np

        ds = self.split(split)
        total = len(ds)  # type: ignore[arg-type]
        if total == 0:
            return []
        idx = np.random.default_rng(seed).permutation(total)[:n]
        mean = np.asarray(self.preprocessing.mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.preprocessing.std, dtype=np.float32).reshape(-1, 1, 1)
        out = []
        for i in idx:
            x, y = ds[int(i)]
            img = x.numpy() * std + mean
            img = np.clip(img * 255.0, 0, 255).astype(np.uint8).transpose(1, 2, 0)
            if img.shape[2] == 1:
                img = np.repeat(img, 3, axis=2)
            out.append((np.ascontiguousarray(img), self.class_names[int(y)]))
        return out

    def loader(self, split: str, batch_size: int = 64, shuffle: bool = False, seed: int = 0) -> DataLoader:
        import torch

        gen = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(self.split(split), batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=0)
