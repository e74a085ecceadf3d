"""Fixtures shared by the core tests: a small trained network and its data."""

from __future__ import annotations

import pytest

from core.data.bundle import DatasetBundle
from core.techniques.base import StepContext
from tests.core.small_models import BlockNet, learnable_bundle, trained_blocknet


@pytest.fixture(scope="session")
def quadrants() -> DatasetBundle:
    return learnable_bundle()


@pytest.fixture(scope="session")
def trained_net(quadrants) -> BlockNet:
    """A BlockNet trained once per session; tests must deep-copy it before changing it."""
    return trained_blocknet(quadrants)


@pytest.fixture
def make_ctx(tmp_path, quadrants):
    def make(**kw) -> StepContext:
        kw.setdefault("data", quadrants)
        kw.setdefault("workdir", tmp_path)
        kw.setdefault("threads", 1)
        return StepContext(**kw)

    return make
