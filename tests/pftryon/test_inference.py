"""The inference-only fast path computes what the model computes."""

from __future__ import annotations

import torch
from torch import nn

from pftryon import PFAFN
from pftryon.models import fold_batchnorm_, init_deterministic_, optimize_for_inference


def test_fast_copy_matches_the_model_and_leaves_it_untouched():
    model = PFAFN()
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = optimize_for_inference(model)
    g = torch.Generator().manual_seed(3)
    person = torch.rand(1, 3, 128, 96, generator=g) * 2 - 1
    edge = (torch.rand(1, 1, 128, 96, generator=g) > 0.5).float()
    cloth = (torch.rand(1, 3, 128, 96, generator=g) * 2 - 1) * edge
    with torch.inference_mode():
        expected, got = model(person, cloth, edge), fast(person, cloth, edge)
    torch.testing.assert_close(got["flow"], expected["flow"], rtol=0, atol=1e-4)
    torch.testing.assert_close(got["tryon"], expected["tryon"], rtol=0, atol=1e-3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.gen.modules())


def test_folding_skips_batchnorm_that_does_not_follow_a_convolution():
    net = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    assert fold_batchnorm_(net) == 1
    assert isinstance(net[0], nn.BatchNorm2d) and isinstance(net[2], nn.Identity)
