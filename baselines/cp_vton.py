"""CP-VTON and CP-VTON+: thin-plate-spline cloth warping followed by a U-Net try-on module.

The geometric matching module (GMM) regresses 5x5 thin-plate-spline control-point offsets from a global
correlation between the cloth-agnostic person representation and the in-shop cloth, and warps the cloth
with them. The try-on module (TOM), a U-Net with resize-convolutions, renders the person and a mask that
blends the warped cloth in. CP-VTON+ feeds the GMM the cloth *mask* instead of the cloth and gives the
TOM the warped mask as an extra input channel.

Written from docs/reference/method.md §6 (numerical conventions in §0). Module paths, parameter
names and shapes follow the official code, so the released ``gmm_final.pth`` / ``tom_final.pth`` load
unchanged; tests/conformance/manifests/cpvton{,plus}_{gmm,tom}.json pin them. The person
representation is built by :mod:`baselines.cp_vton_agnostic`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from pftryon.layers import compose_tryon, warp
from pftryon.models import load_state_dict_checked, read_state_dict, register_model

__all__ = [
    "CPVTON",
    "GMM",
    "FeatureCorrelation",
    "FeatureExtraction",
    "FeatureL2Norm",
    "FeatureRegression",
    "TpsGridGen",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "cp_vton",
    "scaled",
]

_AGNOSTIC_CHANNELS = 22
_EXTRACTION_CHANNELS = (64, 128, 256, 512)
_REGRESSION_CHANNELS = (512, 256, 128, 64)


def scaled(channels: int, width: float) -> int:
    """``channels * width``, rounded, at least 4 (the rule of :func:`pftryon.train.stages.scaled_widths`)."""
    return channels if width == 1.0 else max(4, round(channels * width))


def _init_normal_(module: nn.Module) -> None:
    """The official ``init_weights(..., 'normal')`` of ``FeatureExtraction``: conv weights N(0, 0.02) (biases keep
    PyTorch's default), BatchNorm weights N(1, 0.02) and biases 0 (sergeywong/cp-vton ``networks.py``)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


class FeatureExtraction(nn.Module):
    """GMM feature encoder: four stride-2 4x4 convs (64, 128, 256, 512) and two 3x3 convs at 512.

    Each conv is followed by ReLU and then BatchNorm (in that order), except the last, which has no norm.
    The output has 512 channels (times ``width``) at 1/16 of the input size. Initialised as the official
    constructor does (:func:`_init_normal_`).

    Args:
        in_channels: Input channels.
        width: Multiplier on every channel count (1.0 = the official model).
    """

    def __init__(self, in_channels: int, width: float = 1.0) -> None:
        super().__init__()
        widths = [scaled(c, width) for c in _EXTRACTION_CHANNELS]
        top = widths[-1]
        layers: list[nn.Module] = []
        for cin, cout in zip((in_channels, *widths[:-1]), widths, strict=True):
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(cout)]
        layers += [nn.Conv2d(top, top, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(top)]
        layers += [nn.Conv2d(top, top, 3, padding=1), nn.ReLU(inplace=True)]
        self.model = nn.Sequential(*layers)
        _init_normal_(self.model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class FeatureL2Norm(nn.Module):
    """Divide each feature vector by its L2 norm over channels: ``f / sqrt(sum_c f^2 + 1e-6)``."""

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return feature / torch.sqrt(feature.pow(2).sum(dim=1, keepdim=True) + 1e-6)


class FeatureCorrelation(nn.Module):
    """Global correlation: every position of A against every position of B.

    ``out[b, k, y, x] = <A[b, :, yA, xA], B[b, :, y, x]>`` with ``k = xA * h + yA`` (A's positions in
    column-major order), so ``[B, C, h, w]`` inputs give ``[B, h * w, h, w]``.
    """

    def forward(self, feature_a: torch.Tensor, feature_b: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feature_a.shape
        a_columns = feature_a.transpose(2, 3).reshape(b, c, h * w)
        # [b, positions of B (row-major), positions of A (column-major)]; this product order is the official one.
        products = torch.bmm(feature_b.reshape(b, c, h * w).transpose(1, 2), a_columns)
        return products.view(b, h, w, h * w).permute(0, 3, 1, 2)


class FeatureRegression(nn.Module):
    """Regress the TPS parameters from the correlation volume: four conv-BN-ReLU stages, a linear layer, tanh.

    Args:
        in_channels: Correlation channels (``h * w`` of the feature map; 192 at 256x192).
        output_dim: Number of parameters, ``2 * grid_size**2``.
        spatial: Positions after the convs, ``(H / 64) * (W / 64)`` (12 at 256x192); the linear layer reads
            ``64 * spatial`` features (768), times ``width``.
        width: Multiplier on the conv widths (1.0 = the official 512, 256, 128, 64).
    """

    def __init__(self, in_channels: int, output_dim: int, spatial: int, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3, c4 = (scaled(c, width) for c in _REGRESSION_CHANNELS)
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, c1, 4, stride=2, padding=1),
            nn.BatchNorm2d(c1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, 3, padding=1),
            nn.BatchNorm2d(c3),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1),
            nn.BatchNorm2d(c4),
            nn.ReLU(inplace=True),
        )
        self.linear = nn.Linear(c4 * spatial, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(self.conv(x).flatten(1)))


def _tps_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The thin-plate radial basis ``U(d^2) = d^2 log d^2`` (``U(0) = 0``) between point sets ``[n, 2]``, ``[m, 2]``."""
    d2 = (a[:, None] - b[None]).pow(2).sum(dim=-1)
    d2 = torch.where(d2 > 0, d2, 1.0)
    return d2 * torch.log(d2)


class TpsGridGen(nn.Module):
    """Thin-plate-spline sampling grid from control-point offsets.

    The ``grid_size**2`` control points lie on a regular grid over [-1, 1]^2, ordered with X slow and Y
    fast. ``theta[:, :N]`` are X offsets and ``theta[:, N:]`` Y offsets; ``theta = 0`` gives the identity
    grid. The constant matrices are non-persistent buffers: not in the state dict, but moved by ``.to()``.

    Args:
        out_h: Grid height.
        out_w: Grid width.
        grid_size: Control points per side.
    """

    def __init__(self, out_h: int = 256, out_w: int = 192, grid_size: int = 5) -> None:
        super().__init__()
        self.out_h, self.out_w = out_h, out_w
        self.num_points = grid_size**2
        axis = torch.linspace(-1, 1, grid_size, dtype=torch.float64).float()
        points = torch.stack([axis.repeat_interleave(grid_size), axis.repeat(grid_size)], dim=1)  # [N, 2] (x, y)

        # L = [[K, P], [P^T, 0]] with K_ij = U(|p_i - p_j|^2) and P = [1, x, y], inverted in float32.
        affine = torch.cat([torch.ones(self.num_points, 1), points], dim=1)
        system = torch.zeros(self.num_points + 3, self.num_points + 3)
        system[: self.num_points, : self.num_points] = _tps_kernel(points, points)
        system[: self.num_points, self.num_points :] = affine
        system[self.num_points :, : self.num_points] = affine.t()

        # Output pixels (x, y) in row-major order and their radial terms U(|q - p_i|^2).
        ys, xs = torch.meshgrid(
            torch.linspace(-1, 1, out_h, dtype=torch.float64).float(),
            torch.linspace(-1, 1, out_w, dtype=torch.float64).float(),
            indexing="ij",
        )
        pixels = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)

        self.register_buffer("control_points", points, persistent=False)
        self.register_buffer("l_inverse", torch.linalg.inv(system), persistent=False)
        self.register_buffer("pixels", pixels, persistent=False)
        self.register_buffer("radial", _tps_kernel(pixels, points), persistent=False)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        """Map ``theta`` ``[B, 2N]`` to a sampling grid ``[B, out_h, out_w, 2]`` of (x, y)."""
        n = self.num_points
        targets = (theta.view(-1, 2, n) + self.control_points.t()).reshape(-1, n, 1)
        # Per coordinate, Li[:, :N] @ Q gives the spline weights W (N) and the affine part A (3). The batched
        # matrix-vector product and the sum below keep the official operation order (bit-exact on CPU).
        coefficients = torch.bmm(self.l_inverse[:, :n].expand(len(targets), -1, -1), targets).view(-1, 2, n + 3)
        spline, affine = coefficients.unsqueeze(2).split([n, 3], dim=-1)
        x, y = self.pixels.unbind(dim=1)
        if torch.is_grad_enabled() and theta.requires_grad:
            # Training: a matrix product, equal up to float rounding, whose backward is ~40x cheaper than that of
            # the broadcast product (the GMM step's largest cost at CPU scale). Inference keeps the official order.
            bend = torch.matmul(spline.squeeze(2), self.radial.t())
        else:
            bend = (spline * self.radial).sum(dim=-1)
        grid = affine[..., 0] + affine[..., 1] * x + affine[..., 2] * y + bend
        return grid.transpose(1, 2).reshape(-1, self.out_h, self.out_w, 2)


class GMM(nn.Module):
    """Geometric matching module: person representation and cloth (or cloth mask) to a TPS grid.

    Args:
        in_channels_a: Channels of the person representation (22).
        in_channels_b: Channels of the cloth input: 3 for CP-VTON, 1 (the cloth mask) for CP-VTON+.
        fine_height: Image height; a multiple of 32 (the official 256x192 is a multiple of 64; the TOM U-Net has
            one level fewer at other sizes, :func:`tom_levels`).
        fine_width: Image width; a multiple of 32.
        grid_size: TPS control points per side.
        width: Multiplier on the feature extractors' and the regression's channel widths (1.0 = official).
    """

    def __init__(
        self,
        in_channels_a: int = _AGNOSTIC_CHANNELS,
        in_channels_b: int = 3,
        fine_height: int = 256,
        fine_width: int = 192,
        grid_size: int = 5,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        self.extractionA = FeatureExtraction(in_channels_a, width)
        self.extractionB = FeatureExtraction(in_channels_b, width)
        self.l2norm = FeatureL2Norm()
        self.correlation = FeatureCorrelation()
        self.regression = FeatureRegression(
            (fine_height // 16) * (fine_width // 16), 2 * grid_size**2, (fine_height // 64) * (fine_width // 64), width
        )
        self.gridGen = TpsGridGen(fine_height, fine_width, grid_size)

    def forward(self, input_a: torch.Tensor, input_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(grid [B, H, W, 2], theta [B, 2 * grid_size**2])``, in the official order."""
        feature_a = self.l2norm(self.extractionA(input_a))
        feature_b = self.l2norm(self.extractionB(input_b))
        theta = self.regression(self.correlation(feature_a, feature_b))
        return self.gridGen(theta), theta


class UnetSkipConnectionBlock(nn.Module):
    """One level of the TOM U-Net: ``x -> cat[x, up(sub(down(x)))]`` (the outermost level has no skip).

    Down is a 4x4 stride-2 conv (after LeakyReLU 0.2 below the outermost level, and before InstanceNorm
    between the outermost and innermost levels); up is ReLU, bilinear x2 upsampling, a 3x3 conv and
    InstanceNorm. All convs have biases and the norms are InstanceNorm2d without affine parameters.

    Args:
        outer_nc: Channels this level outputs (before the skip concatenation).
        inner_nc: Channels the down conv produces.
        input_nc: Input channels when they differ from ``outer_nc`` (outermost level only).
        submodule: The next level down; ``None`` for the innermost level.
        outermost: Whether this is the top level (no skip, no activation before the down conv).
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: UnetSkipConnectionBlock | None = None,
        *,
        outermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        down_conv = nn.Conv2d(input_nc or outer_nc, inner_nc, 4, stride=2, padding=1)
        up = [
            nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(inner_nc if submodule is None else 2 * inner_nc, outer_nc, 3, padding=1),
            nn.InstanceNorm2d(outer_nc),
        ]
        if outermost:
            layers = [down_conv, submodule, *up]
        elif submodule is None:
            layers = [nn.LeakyReLU(0.2), down_conv, *up]
        else:
            layers = [nn.LeakyReLU(0.2), down_conv, nn.InstanceNorm2d(inner_nc), submodule, *up]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], dim=1)


def tom_levels(height: int, width: int) -> int:
    """The TOM U-Net's stride-2 levels at ``height x width``: the official 6 where both sides are multiples of 64
    (256x192 down to 4x3), else 5 (multiples of 32: 128x96 down to 4x3 too)."""
    return 6 if height % 64 == 0 and width % 64 == 0 else 5


class UnetGenerator(nn.Module):
    """The TOM U-Net: ``num_downs`` stride-2 levels with ``ngf`` doubling up to ``8 * ngf``.

    Args:
        in_channels: Input channels (25 for CP-VTON, 26 for CP-VTON+).
        out_channels: Output channels (4: rendered RGB and mask logits, before tanh/sigmoid).
        num_downs: Number of levels; 6 takes 256x192 down to 4x3.
        ngf: Channels of the first level.
    """

    def __init__(self, in_channels: int, out_channels: int, num_downs: int = 6, ngf: int = 64) -> None:
        super().__init__()
        block = UnetSkipConnectionBlock(8 * ngf, 8 * ngf)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(8 * ngf, 8 * ngf, submodule=block)
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(mult * ngf, 2 * mult * ngf, submodule=block)
        self.model = UnetSkipConnectionBlock(out_channels, ngf, in_channels, block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GMMWarp(nn.Module):
    """CP-VTON's GMM and the warp of the garment by its grid: what :class:`CPVTON` and
    :class:`~baselines.tps_only.TPSOnly` share (arguments as :class:`CPVTON`'s; ``config`` records them)."""

    agnostic_channels = _AGNOSTIC_CHANNELS  # the person representation's channels (cp_vton_agnostic)

    def __init__(
        self,
        *,
        plus: bool = False,
        fine_height: int = 256,
        fine_width: int = 192,
        grid_size: int = 5,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        if fine_height % 32 or fine_width % 32 or fine_height <= 0 or fine_width <= 0:
            raise ValueError(f"fine_height and fine_width must be multiples of 32, got {fine_height}x{fine_width}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        self.plus = plus
        self.fine_size = (fine_height, fine_width)
        self.config = {"plus": plus, "fine_height": fine_height, "fine_width": fine_width, "grid_size": grid_size,
                       "width": width}  # fmt: skip
        self.gmm = GMM(_AGNOSTIC_CHANNELS, 1 if plus else 3, fine_height, fine_width, grid_size, width)

    def check_inputs(self, **inputs: tuple[torch.Tensor, int]) -> None:
        """Raise ``ValueError`` naming the first of ``name=(tensor, channels)`` that is not ``[B, channels, H, W]``."""
        height, width = self.fine_size
        for name, (tensor, channels) in inputs.items():
            if tensor.ndim != 4 or tuple(tensor.shape[1:]) != (channels, height, width):
                raise ValueError(f"{name} must be [B, {channels}, {height}, {width}], got {list(tensor.shape)}")

    def warp_garment(
        self, agnostic: torch.Tensor, cloth: torch.Tensor, cloth_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``theta``, ``grid``, ``warped_cloth`` (border padding) and ``warped_mask`` (zero padding)."""
        grid, theta = self.gmm(agnostic, cloth_mask if self.plus else cloth)
        return {"theta": theta, "grid": grid, "warped_cloth": warp(cloth, grid, "border"),
                "warped_mask": warp(cloth_mask, grid, "zeros")}  # fmt: skip


class CPVTON(GMMWarp):
    """CP-VTON (or CP-VTON+) inference: GMM warp, then TOM rendering and composition.

    Args:
        plus: Build CP-VTON+: the GMM reads the cloth mask instead of the cloth and the TOM also reads
            the warped mask (26 input channels instead of 25).
        fine_height: Image height; a multiple of 32 (the official 256x192 is a multiple of 64; the TOM U-Net has
            one level fewer at other sizes, :func:`tom_levels`).
        fine_width: Image width; a multiple of 32.
        grid_size: TPS control points per side.
        width: Multiplier on every channel width of the GMM (feature extractors, regression) and the TOM U-Net
            (``ngf = 64 * width``); 1.0 is the released model, whose checkpoints load unchanged.

    Saved and loaded by :func:`pftryon.save_pretrained` / :func:`pftryon.load_pretrained` as architecture
    ``cp_vton`` (``config``: the constructor arguments), as training writes it.

    Example:
        >>> model = CPVTON().eval()
        >>> out = model(torch.zeros(1, 22, 256, 192), torch.zeros(1, 3, 256, 192), torch.ones(1, 1, 256, 192))
        >>> out["tryon"].shape
        torch.Size([1, 3, 256, 192])
    """

    architecture = "cp_vton"

    def __init__(
        self,
        *,
        plus: bool = False,
        fine_height: int = 256,
        fine_width: int = 192,
        grid_size: int = 5,
        width: float = 1.0,
    ) -> None:
        super().__init__(plus=plus, fine_height=fine_height, fine_width=fine_width, grid_size=grid_size, width=width)
        self.tom = UnetGenerator(_AGNOSTIC_CHANNELS + (4 if plus else 3), 4, tom_levels(fine_height, fine_width),
                                 ngf=scaled(64, width))  # fmt: skip

    def forward(
        self,
        agnostic: torch.Tensor,
        cloth: torch.Tensor,
        cloth_mask: torch.Tensor,
        tom_agnostic: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Warp the cloth onto the person and render the try-on.

        Args:
            agnostic: Person representation ``[B, 22, H, W]`` in [-1, 1] (see
                :func:`baselines.cp_vton_agnostic.cpvton_agnostic`).
            cloth: In-shop cloth ``[B, 3, H, W]`` in [-1, 1].
            cloth_mask: Cloth mask ``[B, 1, H, W]`` in {0, 1}.
            tom_agnostic: The TOM's person representation when it differs from the GMM's (CP-VTON+ keeps
                more regions for the TOM); defaults to ``agnostic``.

        Returns:
            ``theta`` ``[B, 2 * grid_size**2]``, ``grid`` ``[B, H, W, 2]``, ``warped_cloth`` (border
            padding), ``warped_mask`` (zero padding), ``tom_out`` (raw 4 channels), ``rendered``,
            ``mask`` and ``tryon`` ``[B, 3, H, W]`` in [-1, 1].

        Raises:
            ValueError: If an input does not have the expected shape.
        """
        tom_agnostic = agnostic if tom_agnostic is None else tom_agnostic
        self.check_inputs(agnostic=(agnostic, _AGNOSTIC_CHANNELS), cloth=(cloth, 3), cloth_mask=(cloth_mask, 1),
                          tom_agnostic=(tom_agnostic, _AGNOSTIC_CHANNELS))  # fmt: skip
        warped = self.warp_garment(agnostic, cloth, cloth_mask)
        tom_in = [tom_agnostic, warped["warped_cloth"]]
        if self.plus:
            tom_in.append(warped["warped_mask"])
        tom_out = self.tom(torch.cat(tom_in, dim=1))
        return {**warped, "tom_out": tom_out, **compose_tryon(warped["warped_cloth"], tom_out)}

    @classmethod
    def from_official(
        cls, gmm_path: str | os.PathLike[str], tom_path: str | os.PathLike[str], *, plus: bool = False
    ) -> CPVTON:
        """Build the model from the official ``gmm_final.pth`` and ``tom_final.pth``, in eval mode.

        Args:
            gmm_path: GMM state dict (a ``module.`` prefix is stripped).
            tom_path: TOM state dict.
            plus: Whether the files are CP-VTON+ checkpoints.

        Raises:
            CheckpointError: If a file cannot be read safely or its keys or shapes do not fit, naming them.
        """
        model = cls(plus=plus)
        for module, path in ((model.gmm, gmm_path), (model.tom, tom_path)):
            load_state_dict_checked(module, read_state_dict(path), source=str(path))
        return model.eval()


@register_model
def cp_vton(**config: Any) -> CPVTON:
    """CP-VTON or, with ``plus=True``, CP-VTON+ (constructor arguments of :class:`CPVTON`)."""
    return CPVTON(**config)
