"""The technique contract: form metadata on every field, value checks, the registry."""

from __future__ import annotations

import dataclasses

import pytest

import core.techniques as techniques
from core.techniques.base import allowed_text, coerce_value, params_of

EXPECTED = {
    "prune.unstructured", "prune.structured", "quantize.static", "quantize.dynamic", "quantize.fp16",
    "quantize.qat", "finetune", "distill.kd", "arch.swap", "lowrank.svd", "lowrank.tucker",
}


def test_registry_has_every_technique_of_the_engine():
    assert EXPECTED <= set(techniques.names())


def test_every_field_carries_form_metadata():
    for info in techniques.all_techniques():
        fields = dataclasses.fields(info.config_cls)
        params = info.params
        assert [p.name for p in params] == [f.name for f in fields], info.name  # nothing undocumented
        for p in params:
            assert p.spec.label and p.spec.help, (info.name, p.name)
            if p.kind in ("int", "float"):
                assert p.spec.min is not None, (info.name, p.name)  # a slider needs a range
            if p.kind == "choice":
                assert p.default in p.spec.choices, (info.name, p.name)
        info.config()  # defaults are valid


def test_techniques_are_grouped_by_family_for_the_menu():
    families = [t.family for t in techniques.all_techniques()]
    order = [techniques.FAMILIES.index(f) for f in families]
    assert order == sorted(order)


def test_unknown_technique_suggests_the_close_name():
    with pytest.raises(techniques.TechniqueError) as err:
        techniques.get("prune.structurd")
    assert "prune.structured" in str(err.value)


def test_coerce_checks_range_type_and_choices():
    p = {x.name: x for x in params_of(techniques.get("finetune").config_cls)}
    assert coerce_value(p["epochs"], 3.0) == 3 and isinstance(coerce_value(p["epochs"], 3.0), int)
    assert coerce_value(p["lr"], 1) == 1.0
    with pytest.raises(ValueError, match="out of range"):
        coerce_value(p["epochs"], 0)
    with pytest.raises(ValueError, match="whole number"):
        coerce_value(p["epochs"], 2.5)
    with pytest.raises(ValueError, match="number"):
        coerce_value(p["lr"], "fast")
    with pytest.raises(ValueError, match="true or false"):
        coerce_value(p["augment"], "yes")
    scope = {x.name: x for x in params_of(techniques.get("prune.unstructured").config_cls)}["scope"]
    with pytest.raises(ValueError, match="'global'"):
        coerce_value(scope, "everywhere")
    assert "from 1 to 200" in allowed_text(p["epochs"])


def test_to_params_lists_every_value_or_only_what_differs():
    cfg = techniques.get("prune.unstructured").config(sparsity=0.5, ignore_layers=("conv1",))
    assert cfg.to_params(only_changed=True) == {"sparsity": 0.5, "ignore_layers": ["conv1"]}
    full = cfg.to_params()
    assert full["scope"] == "global" and full["sparsity"] == 0.5 and set(full) == {p.name for p in params_of(type(cfg))}
