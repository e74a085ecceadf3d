"""What a user types for an input shape, read once for the CLI flag and the Model page field."""

from __future__ import annotations

import pytest

from core.fmt import parse_shape, shape


def test_parse_shape_reads_commas_and_x_and_refuses_the_rest():
    assert parse_shape("3,224,224") == parse_shape(" 3 x 224 x 224 ") == (3, 224, 224)
    for bad in ("", "3,224", "3,0,224", "a,b,c", "3,224,224,1"):
        with pytest.raises(ValueError, match="expected C,H,W such as 3,224,224"):
            parse_shape(bad)
    assert shape((3, 224, 224)) != "—"
