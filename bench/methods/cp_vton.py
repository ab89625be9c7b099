"""CP-VTON and CP-VTON+ (thin-plate-spline warp + try-on module) from the common sample schema."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn

from baselines.cp_vton import CPVTON
from baselines.cp_vton_agnostic import cpvton_agnostic
from bench.data.readers import InputError
from bench.methods.base import Batch, MethodCard, TryOnMethod

__all__ = ["CPVTONMethod", "CPVTONPlusMethod"]

# Parse label sets whose indices are LIP's, which CP-VTON's agnostic reads (datasets.md §1b, §2).
_LIP_SETS = ("lip20", "lip21", "cihp20")


def _lip_parse(batch: Batch, method: str) -> Tensor:
    labels = set(batch["parse_labels"])
    if not labels <= set(_LIP_SETS):
        raise InputError(
            f"{method} reads LIP parse labels ({', '.join(_LIP_SETS)}); dataset {batch['dataset'][0]} has "
            f"{', '.join(sorted(labels))}"
        )
    return batch["parse"]


class CPVTONMethod(TryOnMethod):
    """CP-VTON as ``sngyo/cp-vton`` ``test.py`` runs it (spec §6): the 22-channel agnostic (body shape, head, pose)
    from the LIP parse, person and keypoints (``cp_dataset.py``), the cloth in [-1, 1] and its mask binarised at 128
    (``cm_array >= 128``), GMM then TOM at the model's fixed size."""

    card = MethodCard(
        name="cp_vton", title="CP-VTON", family="thin-plate-spline warp + try-on module, parser-based",
        citation="Wang et al., Toward Characteristic-Preserving Image-based Virtual Try-On Network, ECCV 2018",
        inputs=("person", "cloth", "cloth_mask", "parse", "keypoints"), resolution=(256, 192),
        official_files=("gmm_final.pth", "tom_final.pth"),
        weights_source="sergeywong/cp-vton issue #5 (gmm_final.pth, tom_final.pth)", parser_free=False,
        latency_model="cp_vton",
    )  # fmt: skip
    plus = False

    @classmethod
    def from_official(cls, paths: Sequence[Path]) -> nn.Module:
        return CPVTON.from_official(*paths, plus=cls.plus)

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
    head/keep labels for each stage (spec §6.4)."""

    card = MethodCard(
        name="cp_vton_plus", title="CP-VTON+", family="thin-plate-spline warp + try-on module, parser-based",
        citation="Minar et al., CP-VTON+: Clothing Shape and Texture Preserving Image-Based Virtual Try-On, CVPRW 2020",
        inputs=("person", "cloth", "cloth_mask", "parse", "keypoints"), resolution=(256, 192),
        official_files=("gmm_final.pth", "tom_final.pth"),
        weights_source="minar09/cp-vton-plus README (checkpoints/GMM, checkpoints/TOM)", parser_free=False,
        latency_model="cp_vton_plus",
    )  # fmt: skip
    plus = True
