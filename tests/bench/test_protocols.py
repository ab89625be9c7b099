"""Protocols are declarative, validated and self-describing."""

from __future__ import annotations

import pytest

import bench.protocols as protocols
from bench.protocols import list_protocols, load_protocol


def test_shipped_protocols_load_with_their_choices():
    assert {"pfafn", "hrviton", "ladi", "catvton"} <= set(list_protocols())
    pfafn = load_protocol("pfafn")
    assert pfafn.resolution == (256, 192) and pfafn.ssim.variant == "pytorch_ssim" and pfafn.dataset == "viton"
    hrviton = load_protocol("hrviton")
    assert hrviton.ssim.grayscale and hrviton.lpips.resize == (128, 128) and hrviton.gt_resize == "bilinear"
    ladi = load_protocol("ladi")
    assert ladi.resolution == (512, 384) and ladi.fid.backend == "clean-fid" and ladi.kid.scale == 1000
    catvton = load_protocol("catvton")
    assert catvton.lpips.net == "squeeze" and catvton.gt_resize == "lanczos"
    for name in list_protocols():
        protocol = load_protocol(name)
        assert protocol.source and protocol.version >= 1 and protocol.to_dict()["name"] == name


def test_include_overrides_only_what_it_names():
    base, variant = load_protocol("catvton"), load_protocol("catvton-512")
    assert variant.resolution == (512, 384)
    assert variant.lpips == base.lpips and variant.fid == base.fid and variant.source == base.source


@pytest.fixture
def protocol_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(protocols, "_HERE", tmp_path)
    return tmp_path


def test_unknown_keys_are_rejected(protocol_dir):
    (protocol_dir / "typo.yaml").write_text(
        "name: typo\nversion: 1\nsource: x\ndescription: x\ndataset: viton\nresolution: [256, 192]\n"
        "ssim: {variant: torchmetrics, window: 7}\n"
    )
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['window'\]"):
        load_protocol("typo")


def test_invalid_choices_and_cycles_are_rejected(protocol_dir):
    (protocol_dir / "bad.yaml").write_text(
        "name: bad\nversion: 1\nsource: x\ndescription: x\ndataset: viton\nresolution: [256, 192]\n"
        "ssim: {variant: matlab}\n"
    )
    with pytest.raises(ValueError, match="ssim.variant must be one of"):
        load_protocol("bad")
    (protocol_dir / "a.yaml").write_text("include: b\n")
    (protocol_dir / "b.yaml").write_text("include: a\n")
    with pytest.raises(ValueError, match="include cycle"):
        load_protocol("a")


def test_unknown_protocol_lists_the_available_ones():
    with pytest.raises(ValueError, match="Available: .*pfafn"):
        load_protocol("pf-afn")
