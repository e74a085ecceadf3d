"""Target profile figures must be finite and in a sane range: 1e-300 GB/s once estimated "5.5e301 ms"."""

from __future__ import annotations

import pytest

from core.export.targets import TargetError, load_profile, parse_size
from tests.core.export.test_targets import VALID


@pytest.mark.parametrize("change, field", [
    (("bandwidth_gbs = 0.1", "bandwidth_gbs = 1e-300"), "memory.bandwidth_gbs"),
    (("bandwidth_gbs = 0.1", "bandwidth_gbs = inf"), "memory.bandwidth_gbs"),
    (("bandwidth_gbs = 0.1", "bandwidth_gbs = nan"), "memory.bandwidth_gbs"),
    (("bandwidth_gbs = 0.1", "bandwidth_gbs = 1e12"), "memory.bandwidth_gbs"),
    (("int8 = 0.05", "int8 = inf"), "compute.int8"),
    (("int8 = 0.05", "int8 = 1e-300"), "compute.int8"),
    (("ram = \"16 KiB\"", "ram = \"0.0001 B\""), "memory.ram"),
    (("storage = \"64 KiB\"", "storage = 9000000000000000000"), "memory.storage"),
])
def test_absurd_figures_are_refused_naming_the_field(tmp_path, change, field):
    path = tmp_path / "tiny-mcu.toml"
    path.write_text(VALID.replace(*change))
    with pytest.raises(TargetError) as err:
        load_profile(path)
    assert f"`{field}`" in str(err.value) and str(path) in str(err.value)


def test_the_edges_of_the_ranges_still_load(tmp_path):
    path = tmp_path / "tiny-mcu.toml"
    path.write_text(VALID.replace("bandwidth_gbs = 0.1", "bandwidth_gbs = 0.001").replace("int8 = 0.05", "int8 = 1e8"))
    profile = load_profile(path)
    assert profile.memory.bandwidth_gbs == 0.001 and profile.compute_gops["int8"] == 1e8
    assert parse_size("1 B") == 1 and parse_size(2**50) == 2**50
