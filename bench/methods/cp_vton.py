"""CP-VTON and CP-VTON+ (thin-plate-spline warp + try-on module) from the common sample schema, and the TPS-only
baseline (CP-VTON's GMM warp pasted, no try-on module).

Each returns the GMM's thin-plate-spline sampling grid as its ``flow`` (channels first; ``align_corners=True`` like the
appearance flows), so that its warp is scored by the same end-point error. Each loads the official files or a pftryon
checkpoint of architecture ``cp_vton`` (what ``pftryon train --method cp_vton`` / ``cp_vton_plus`` writes in
``final/model``); its ``plus`` flag must be the method's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import torch
from torch import Tensor, nn

from baselines.cp_vton import CPVTON
from baselines.cp_vton_agnostic import cpvton_agnostic
from baselines.tps_only import TPSOnly
from bench.data.readers import InputError
from bench.methods.base import Batch, MethodCard, Size, TryOnMethod, random_image, random_mask
from pftryon.models import CHECKPOINT_CONFIG

__all__ = ["CPVTONMethod", "CPVTONPlusMethod", "TPSOnlyMethod"]

# Parse label sets whose indices are LIP's, which CP-VTON's agnostic reads (docs/reference/datasets.md §1b, §2).
_LIP_SETS = ("lip20", "lip21", "cihp20")


def _variant(plus: bool) -> str:
    return "CP-VTON+" if plus else "CP-VTON"


def _lip_parse(batch: Batch, method: str) -> Tensor:
    labels = set(batch["parse_labels"])
    if not labels <= set(_LIP_SETS):
        raise InputError(
            f"{method} reads LIP parse labels ({', '.join(_LIP_SETS)}); dataset {batch['dataset'][0]} has "
            f"{', '.join(sorted(labels))}"
        )
    return batch["parse"]


def _gmm_example_inputs(batch_size: int, size: Size, generator: torch.Generator | None) -> tuple[Tensor, ...]:
    """Random stand-ins of the GMM's inputs: the 22-channel agnostic (body shape (1) + head RGB (3) + pose maps
    (18)), the cloth, the cloth mask."""
    g = generator or torch.Generator().manual_seed(0)
    return random_image(g, batch_size, size, 22), random_image(g, batch_size, size), random_mask(g, batch_size, size)


class _GridAsFlow(TryOnMethod):
    """A method whose model returns its TPS sampling grid ``[B, H, W, 2]``: the harness's ``flow`` ``[B, 2, H, W]``."""

    @torch.inference_mode()
    def __call__(self, batch: Batch) -> dict[str, Tensor]:
        """As :meth:`TryOnMethod.__call__`, with the GMM's grid as the ``flow``."""
        outputs = super().__call__(batch)
        return {**outputs, "flow": outputs["grid"].permute(0, 3, 1, 2)}


class CPVTONMethod(_GridAsFlow):
    """CP-VTON as ``sngyo/cp-vton`` ``test.py`` runs it (docs/reference/method.md §6): the 22-channel agnostic (body
    shape, head, pose) from the LIP parse, person and keypoints (``cp_dataset.py``), the cloth in [-1, 1] and its mask
    binarised at 128 (``cm_array >= 128``), GMM then TOM at the model's fixed size."""

    card = MethodCard(
        name="cp_vton", title="CP-VTON", family="thin-plate-spline warp + try-on module, parser-based",
        citation="Wang et al., Toward Characteristic-Preserving Image-based Virtual Try-On Network, ECCV 2018",
        inputs=("person", "cloth", "cloth_mask", "parse", "keypoints"), resolution=(256, 192),
        official_files=("gmm_final.pth", "tom_final.pth"),
        weights_source="sergeywong/cp-vton issue #5 (gmm_final.pth, tom_final.pth)", parser_free=False,
        latency_model="cp_vton",
    )  # fmt: skip
    model_class = CPVTON
    plus = False
    stages = ("cp-gmm", "cp-tom")
    size_multiple = 32
    checkpoint_submodules = ("gmm", "tom")
    timing_summary = "CP-VTON: GMM (TPS warp) + TOM U-Net + composition, built for the timed size"

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None) -> Self:
        """Load the official files or a ``cp_vton`` pftryon checkpoint whose ``plus`` is the method's.

        Raises:
            InputError: as :meth:`TryOnMethod.load`, or a checkpoint of the other variant (CP-VTON vs CP-VTON+).
        """
        method = super().load(folder)
        if method.model.plus != cls.plus:
            raise InputError(
                f"{Path(folder, CHECKPOINT_CONFIG)}: a {_variant(method.model.plus)} checkpoint (plus: "
                f"{str(method.model.plus).lower()}); {cls.card.name} needs a {_variant(cls.plus)} one"
            )
        return method

    @classmethod
    def from_official(cls, paths: Sequence[Path]) -> nn.Module:
        return CPVTON.from_official(*paths, plus=cls.plus)

    @classmethod
    def build_architecture(cls, size: Size, config: Mapping[str, Any]) -> nn.Module:
        """Built for the timed size, whatever size ``config`` (a checkpoint's) names (the GMM's regression head)."""
        return CPVTON(**{"plus": cls.plus, **config, "fine_height": size[0], "fine_width": size[1]})

    @classmethod
    def example_inputs(
        cls, batch_size: int, size: Size, generator: torch.Generator | None = None
    ) -> tuple[Tensor, ...]:
        """The agnostic, cloth and cloth mask (the TOM's own agnostic of CP-VTON+ is left to its default)."""
        return _gmm_example_inputs(batch_size, size, generator)

    def inputs(self, batch: Batch) -> tuple[Tensor, ...]:
        parse = _lip_parse(batch, self.card.name)
        person, keypoints = batch["person"], batch["keypoints"]
        gmm = cpvton_agnostic(parse, person, keypoints, plus=self.plus, stage="gmm")
        mask = (batch["cloth_mask"] >= 0.5).to(person.dtype)
        if not self.plus:
            return gmm, batch["cloth"], mask
        tom = cpvton_agnostic(parse, person, keypoints, plus=True, stage="tom")
        return gmm, batch["cloth"], mask, tom


class CPVTONPlusMethod(CPVTONMethod):
    """CP-VTON+ (``minar09/cp-vton-plus``): the GMM reads the cloth mask, the TOM also the warped mask, and its own
    head/keep labels for each stage (docs/reference/method.md §6.4)."""

    card = MethodCard(
        name="cp_vton_plus", title="CP-VTON+", family="thin-plate-spline warp + try-on module, parser-based",
        citation="Minar et al., CP-VTON+: Clothing Shape and Texture Preserving Image-Based Virtual Try-On, CVPRW 2020",
        inputs=("person", "cloth", "cloth_mask", "parse", "keypoints"), resolution=(256, 192),
        official_files=("gmm_final.pth", "tom_final.pth"),
        weights_source="minar09/cp-vton-plus README (checkpoints/GMM, checkpoints/TOM)", parser_free=False,
        latency_model="cp_vton_plus",
    )  # fmt: skip
    plus = True
    stages = ("cpplus-gmm", "cpplus-tom")
    timing_summary = "CP-VTON+: GMM on the cloth mask, 26-channel TOM, built for the timed size"


class TPSOnlyMethod(_GridAsFlow):
    """TPS-only baseline (:class:`baselines.tps_only.TPSOnly`): the GMM of a CP-VTON (or CP-VTON+) checkpoint warps the
    cloth, pasted over the person by the warped mask; no TOM. Inputs as CP-VTON's GMM reads them."""

    card = MethodCard(
        name="tps_only", title="TPS warp pasted (no generator)",
        family="baseline: CP-VTON's GMM (thin-plate-spline) warp pasted by the warped mask, no try-on module",
        citation="pftryon baseline from Wang et al., CP-VTON (ECCV 2018): its GMM without the TOM",
        inputs=("person", "cloth", "cloth_mask", "parse", "keypoints"), resolution=(256, 192),
        official_files=("gmm_final.pth",),
        weights_source="a CP-VTON checkpoint folder: sergeywong/cp-vton issue #5 (gmm_final.pth; a CP-VTON+ "
        "gmm_final.pth also works), or the final/model folder of `pftryon train --method cp_vton`",
        parser_free=False, latency_model="tps_only",
    )  # fmt: skip
    model_class = CPVTON  # what a pftryon checkpoint holds; its GMM is kept
    size_multiple = 32
    checkpoint_submodules = ("gmm",)
    timing_summary = (
        "TPS-only baseline: CP-VTON's GMM warp pasted by the warped mask (no TOM), built for the timed size"
    )

    def __init__(self, model: nn.Module, checkpoints: Mapping[str, str], config: Mapping[str, Any]) -> None:
        if isinstance(model, CPVTON):
            model = TPSOnly.from_cpvton(model)
        super().__init__(model, checkpoints, config)

    @classmethod
    def from_official(cls, paths: Sequence[Path]) -> nn.Module:
        return TPSOnly.from_official(paths[0])

    @classmethod
    def build_architecture(cls, size: Size, config: Mapping[str, Any]) -> nn.Module:
        """The GMM alone, built for the timed size whatever size ``config`` names."""
        return TPSOnly(**{**config, "fine_height": size[0], "fine_width": size[1]})

    @classmethod
    def example_inputs(
        cls, batch_size: int, size: Size, generator: torch.Generator | None = None
    ) -> tuple[Tensor, ...]:
        """The GMM's inputs, then the person (what the warped garment is pasted on)."""
        g = generator or torch.Generator().manual_seed(0)
        return (*_gmm_example_inputs(batch_size, size, g), random_image(g, batch_size, size))

    def inputs(self, batch: Batch) -> tuple[Tensor, ...]:
        parse = _lip_parse(batch, self.card.name)
        person = batch["person"]
        agnostic = cpvton_agnostic(parse, person, batch["keypoints"], plus=self.model.plus, stage="gmm")
        mask = (batch["cloth_mask"] >= 0.5).to(person.dtype)
        return agnostic, batch["cloth"], mask, person
