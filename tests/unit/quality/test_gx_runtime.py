"""`gx_runtime.configurations_built_once`: GX's expectation configuration built once per instance in the block."""

import os

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

gxe = pytest.importorskip("great_expectations.expectations")

from great_expectations.expectations.expectation import Expectation  # noqa: E402

from assets.quality.gx_runtime import configurations_built_once  # noqa: E402


def test_inside_the_block_one_configuration_per_expectation_and_gx_property_back_after():
    original = Expectation.__dict__["configuration"]
    a = gxe.ExpectColumnValuesToNotBeNull(column="a")
    b = gxe.ExpectColumnValuesToNotBeNull(column="b")
    assert a.configuration is not a.configuration  # GX builds it on every read
    with configurations_built_once():
        first = a.configuration
        assert a.configuration is first and b.configuration is not first
        assert b.configuration.kwargs["column"] == "b" and first.kwargs["column"] == "a"
        assert first == gxe.ExpectColumnValuesToNotBeNull(column="a").configuration
    assert Expectation.__dict__["configuration"] is original
    assert a.configuration is not first


def test_gx_property_is_back_when_the_block_raises():
    original = Expectation.__dict__["configuration"]
    with pytest.raises(RuntimeError), configurations_built_once():
        raise RuntimeError("validation failed")
    assert Expectation.__dict__["configuration"] is original
