"""Where the model and the data come from: typed, stored with every run, replayable.

A run records how its inputs were asked for (the spec plus the loading options)
so ``runs resume`` and a sweep's trials load exactly the same model and data.
These two dataclasses are that record; :meth:`stored` is the form kept in the
store's ``load_options`` column (trust is never stored: it is asked for again).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class ModelSource:
    """A model spec (``demo``, ``torchvision:NAME``, ``timm:NAME`` or a file) and how to open it."""

    spec: str
    arch: Optional[str] = None  # architecture of a state_dict file
    num_classes: Optional[int] = None
    weights: Optional[str] = None  # state_dict loaded into torchvision:NAME / timm:NAME
    trust: bool = False  # allow a full pickle (runs code from the file); never stored
    input_shape: Optional[tuple[int, int, int]] = None

    def load(self):
        """The :class:`core.models.LoadedModel`; every user mistake is an EdgeSlimError."""
        from core.models import load_model

        return load_model(self.spec, arch=self.arch, num_classes=self.num_classes, weights=self.weights,
                          trust=self.trust, input_shape=self.input_shape)

    def options(self) -> dict:
        """The loading options as stored with a run (without trust)."""
        return {"arch": self.arch, "num_classes": self.num_classes, "weights": self.weights,
                "input_shape": list(self.input_shape) if self.input_shape else None}

    def trusted(self, trust: bool = True) -> "ModelSource":
        return replace(self, trust=trust)


@dataclass(frozen=True)
class DataSource:
    """A dataset spec (``demo``, an image folder, ``cifar10:PATH`` …) and how to read it."""

    spec: str
    preset: Optional[str] = None  # preprocessing preset for image folders
    image_size: Optional[int] = None  # crop size for image folders
    labels: Optional[str] = None  # labels file: class folder -> model output (absolute path)

    def load(self, model: Any = None):
        """The :class:`core.data.DatasetBundle`; given the model, mapped onto its outputs and checked against it."""
        from core.data import load_dataset

        data = load_dataset(self.spec, preset=self.preset, image_size=self.image_size)
        if model is None:
            return data
        from core.metrics.compat import fit_data

        return fit_data(model, data, self.labels)

    def matched(self, model: Any, data: Any):
        """``data`` in ``model``'s label space, unchecked (a stored run's replay checks later)."""
        from core.metrics.compat import match_model_labels

        return match_model_labels(model, data, self.labels)

    def options(self) -> dict:
        return {"preset": self.preset, "image_size": self.image_size, **({"labels": self.labels} if self.labels else {})}

    def with_labels(self, path: Optional[str]) -> "DataSource":
        return replace(self, labels=str(Path(path).expanduser().resolve()) if path else None)


def stored_options(model: ModelSource, data: DataSource) -> dict:
    """The store's ``load_options`` for a run on ``model`` and ``data`` (trust left out)."""
    return {**model.options(), **data.options()}


def sources_from_stored(model_spec: str, data_spec: str, options: Optional[dict], *, trust: bool = False) -> tuple[ModelSource, DataSource]:
    """The sources a stored run was made from; trust only from the caller, never from the store."""
    lo = dict(options or {})
    shape = lo.get("input_shape")
    model = ModelSource(model_spec, arch=lo.get("arch"), num_classes=lo.get("num_classes"), weights=lo.get("weights"),
                        trust=trust, input_shape=tuple(shape) if shape else None)  # type: ignore[arg-type]
    data = DataSource(data_spec, preset=lo.get("preset"), image_size=lo.get("image_size"), labels=lo.get("labels"))
    return model, data
