"""Compute ``cpvton_golden.npz`` with the official CP-VTON code.

    python tests/conformance/make_cpvton_golden.py CP_VTON_CHECKOUT
    python tests/conformance/make_cpvton_golden.py CP_VTON_CHECKOUT --check OTHER_GOLDEN.npz

``CP_VTON_CHECKOUT`` is a checkout of sergeywong/cp-vton at ``fbaf333``: its ``networks.py`` is imported from there
and run as it is, on the CPU in float32 with the deterministic weights (``pftryon.models.init_deterministic_``).
Only what the code cannot do on a current CPU-only PyTorch is changed from outside: ``.cuda()`` is a no-op; the
correlation volume is made contiguous, as PyTorch 0.4's convolutions made their inputs (current PyTorch keeps the
transposed layout through the regression's convolutions, and its final ``view`` then fails); and the two
``grid_sample`` calls of the official ``test.py`` are written here with ``align_corners=True`` (the PyTorch 0.4
behaviour the code was written for).

The inputs are those of one synthetic person built the way the official ``cp_dataset.py`` builds them (by
:func:`baselines.cp_vton_agnostic.cpvton_agnostic`, which follows it): 8-bit images in [-1, 1] (smooth random colour),
a LIP parse map of ellipses, 17 pose squares (one joint absent) and a binary cloth mask. The cloth stays smooth up to
its border, unlike a product photo on white: the TPS grid differs between correct implementations (and between CPUs)
by a few 1e-6, and sampling a sharp garment edge would magnify that towards the image tolerance.

``--check`` runs the same official modules on the inputs of another golden file and prints the largest difference
from its outputs, to show that this script computes what that file's authors computed; it writes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from reduce import write_golden
from torch import nn

from baselines.cp_vton_agnostic import cpvton_agnostic
from pftryon.models import init_deterministic_

HERE = Path(__file__).resolve().parent
HEIGHT, WIDTH = 256, 192
SEED = 12345
OUTPUTS = ("theta", "grid", "warped_cloth", "warped_mask", "tom_out", "p_tryon")


def official_networks(checkout: Path) -> ModuleType:
    """The official ``networks`` module, imported from ``checkout``, with ``.cuda()`` a no-op and a contiguous
    correlation volume."""
    if not (checkout / "networks.py").is_file():
        raise SystemExit(f"{checkout}: expected a checkout of sergeywong/cp-vton (no networks.py)")
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    nn.Module.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    sys.path.insert(0, str(checkout))
    networks = importlib.import_module("networks")
    correlate = networks.FeatureCorrelation.forward
    networks.FeatureCorrelation.forward = lambda self, a, b: correlate(self, a, b).contiguous()
    return networks


def official_models(networks: ModuleType) -> tuple[nn.Module, nn.Module]:
    """The official GMM and TOM as ``test.py`` builds them, with the deterministic weights, in eval mode."""
    gmm = networks.GMM(SimpleNamespace(fine_height=HEIGHT, fine_width=WIDTH, grid_size=5))
    tom = networks.UnetGenerator(25, 4, 6, ngf=64, norm_layer=nn.InstanceNorm2d)
    for model in (gmm, tom):
        init_deterministic_(model)
    return gmm.eval(), tom.eval()


@torch.no_grad()
def official_outputs(
    gmm: nn.Module, tom: nn.Module, agnostic: torch.Tensor, cloth: torch.Tensor, cloth_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """GMM, the two warps and TOM, as the official ``test.py`` chains them."""
    grid, theta = gmm(agnostic, cloth)
    warped_cloth = F.grid_sample(cloth, grid, padding_mode="border", align_corners=True)
    warped_mask = F.grid_sample(cloth_mask, grid, padding_mode="zeros", align_corners=True)
    tom_out = tom(torch.cat([agnostic, warped_cloth], 1))
    rendered, composite = torch.tanh(tom_out[:, :3]), torch.sigmoid(tom_out[:, 3:])
    p_tryon = warped_cloth * composite + rendered * (1 - composite)
    values = (theta, grid, warped_cloth, warped_mask, tom_out, p_tryon)
    return dict(zip(OUTPUTS, values, strict=True))


def _smooth_image(generator: torch.Generator, channels: int) -> np.ndarray:
    """An 8-bit ``[H, W, C]`` image of smooth random colour (low-resolution normal noise, upsampled)."""
    coarse = torch.randn(1, channels, 8, 6, generator=generator)
    fine = 0.5 * torch.randn(1, channels, 32, 24, generator=generator)
    field = sum(F.interpolate(x, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False) for x in (coarse, fine))
    return (torch.sigmoid(field)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """``ToTensor`` then ``Normalize(0.5, 0.5)`` of an 8-bit ``[H, W, C]`` image."""
    return (torch.from_numpy(image).permute(2, 0, 1).float().div(255) - 0.5) / 0.5


def golden_inputs(seed: int = SEED) -> dict[str, torch.Tensor]:
    """``agnostic`` [1, 22, H, W], ``cloth`` [1, 3, H, W] and ``cloth_mask`` [1, 1, H, W] of one synthetic person."""
    generator = torch.Generator().manual_seed(seed)
    person, cloth = _to_tensor(_smooth_image(generator, 3)), _to_tensor(_smooth_image(generator, 3))
    parse = Image.new("L", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(parse)
    for label, box in (  # LIP labels: pants, upper clothes, both arms, hair, face
        (9, (58, 150, 134, 250)), (5, (50, 62, 142, 170)), (14, (22, 70, 62, 170)), (15, (130, 70, 170, 170)),
        (2, (68, 4, 124, 48)), (13, (76, 14, 116, 64)),
    ):  # fmt: skip
        draw.ellipse(box, fill=label)
    joints = torch.tensor([[96, 38], [96, 72], [62, 74], [40, 112], [34, 150], [130, 74], [152, 112], [158, 150],
                           [74, 150], [72, 200], [70, 244], [118, 150], [120, 200], [0, 0], [88, 30], [104, 30],
                           [82, 34], [110, 34]], dtype=torch.float32)  # fmt: skip
    joints += torch.randint(-4, 5, joints.shape, generator=generator) * (joints > 1)  # the right ankle stays absent
    agnostic = cpvton_agnostic(torch.from_numpy(np.array(parse)).long(), person, joints)
    mask = Image.new("L", (WIDTH, HEIGHT))
    ImageDraw.Draw(mask).polygon([(40, 30), (152, 30), (176, 96), (150, 110), (148, 236), (44, 236), (42, 110),
                                  (16, 96)], fill=255)  # fmt: skip
    cloth_mask = torch.from_numpy((np.array(mask) >= 128).astype(np.float32))[None]
    return {"agnostic": agnostic[None], "cloth": cloth[None], "cloth_mask": cloth_mask[None]}


def check(gmm: nn.Module, tom: nn.Module, golden: Path) -> None:
    """Print the largest difference between the official outputs on ``golden``'s inputs and its stored outputs."""
    with np.load(golden) as data:
        arrays = {key: torch.from_numpy(data[key]) for key in data.files}
    ours = official_outputs(gmm, tom, arrays["agnostic"], arrays["cloth"], arrays["cloth_mask"])
    for key in OUTPUTS:
        print(f"{key:13s} max |official here - {golden.name}| = {(ours[key] - arrays[key]).abs().max().item():.3g}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of sergeywong/cp-vton at fbaf333")
    parser.add_argument("--check", type=Path, help="compare with this golden file's outputs instead of writing")
    args = parser.parse_args(argv)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    gmm, tom = official_models(official_networks(args.checkout))
    if args.check is not None:
        check(gmm, tom, args.check)
        return
    inputs = golden_inputs()
    arrays = {**inputs, **official_outputs(gmm, tom, **inputs)}
    write_golden(HERE / "cpvton_golden.npz", {key: value.numpy() for key, value in arrays.items()})
    print(f"wrote {HERE / 'cpvton_golden.npz'}")


if __name__ == "__main__":
    main()
