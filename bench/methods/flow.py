"""Appearance-flow methods: PF-AFN (parser-free student), its parser-based tutor PB-AFN, and its successors FS-VTON
and DM-VTON (both parser-free, same inputs)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import torch
from torch import Tensor, nn

from baselines.dm_vton import DMVTON
from baselines.fs_vton import FSVTON
from bench.data.readers import InputError
from bench.data.schema import to_common
from bench.methods.base import Batch, MethodCard, Size, TryOnMethod, random_image, random_mask
from pftryon.models import (
    CHECKPOINT_CONFIG,
    CHECKPOINT_WEIGHTS,
    OFFICIAL_GEN_FILE,
    OFFICIAL_WARP_FILE,
    PBAFN,
    PFAFN,
    mask_garment,
)
from pftryon.representation import pose_maps
from pftryon.train.representation import densepose_from_parse, person_representation

__all__ = [
    "DMVTONMethod", "FSVTONMethod", "MaskedGarmentMethod", "PBAFNMethod", "PFAFNMethod", "WUTONStudentMethod",
    "masked_garment_example_inputs", "tutor_inputs",
]  # fmt: skip

_PFAFN_CITATION = "Ge et al., Parser-Free Virtual Try-on via Distilling Appearance Flows, CVPR 2021"
_DENSEPOSE_FALLBACK = (
    "DensePose derived from the parse (pftryon.train.representation.densepose_from_parse): hands and arms under "
    "sleeves are lost"
)


def masked_garment_example_inputs(
    batch_size: int, size: Size, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Random stand-ins of PF-AFN's test inputs: the person image, the garment masked by its edge, the edge (drawn
    edge first, from ``generator``, default seed 0)."""
    generator = generator or torch.Generator().manual_seed(0)
    edge = random_mask(generator, batch_size, size)
    return random_image(generator, batch_size, size), random_image(generator, batch_size, size) * edge, edge


class MaskedGarmentMethod(TryOnMethod):
    """The methods that take PF-AFN's test inputs (``PF-AFN_test/test.py``): the person image, the garment
    multiplied by its edge binarised at 0.5, the edge; no resize, no parse. Warp and generator are one official file
    each, and the sides are multiples of 32 (the flow pyramid)."""

    size_multiple = 32
    checkpoint_submodules = ("warp", "gen")

    def inputs(self, batch: Batch) -> tuple[Tensor, ...]:
        return (batch["person"], *mask_garment(batch["cloth"], batch["cloth_mask"]))

    @classmethod
    def example_inputs(
        cls, batch_size: int, size: Size, generator: torch.Generator | None = None
    ) -> tuple[Tensor, ...]:
        return masked_garment_example_inputs(batch_size, size, generator)


class PFAFNMethod(MaskedGarmentMethod):
    """PF-AFN as ``PF-AFN_test/test.py`` runs it (docs/reference/method.md §1): the person image, the garment
    multiplied by its edge binarised at 0.5 (``test.py``: ``edge = (edge > 0.5)``, ``clothes = clothes * edge``), no
    resize, no parse."""

    card = MethodCard(
        name="pf_afn", title="PF-AFN", family="appearance flow, parser-free (distilled)", citation=_PFAFN_CITATION,
        inputs=("person", "cloth", "cloth_mask"), resolution=(256, 192),
        official_files=(OFFICIAL_WARP_FILE, OFFICIAL_GEN_FILE),
        weights_source="geyuying/PF-AFN README, checkpoints/PFAFN/", parser_free=True, latency_model="pf_afn",
    )  # fmt: skip
    model_class = PFAFN
    stages = ("pb-warp", "pb-e2e", "pf-warp", "pf-e2e")  # the tutor's two, then the student's two
    timing_summary = "PF-AFN: warp (AFWM) + generator + composition from person, masked garment, garment mask"


class WUTONStudentMethod(PFAFNMethod):
    """A WUTON-style student: PF-AFN's architecture trained with tutor-only knowledge (``TrainConfig.knowledge:
    tutor``, :mod:`pftryon.train.stages`): it sees the real person and another garment and mimics the tutor's try-on,
    as WUTON (Issenhuth et al., ECCV 2020) learns from a parser-based teacher's output, instead of PF-AFN's
    teacher+tutor knowledge (the fake person in, the real image as target). Inputs and pipeline are PF-AFN's.

    No weights are released: they are a pftryon checkpoint (``model.safetensors`` + ``config.json``) of a PF-AFN
    student trained with ``knowledge: tutor``, the ``final/model`` folder of a ``pf-e2e`` run of ``pftryon ablate``
    (a variant with ``knowledge: tutor``) or of the synthetic suite.
    """

    card = MethodCard(
        name="wuton_student", title="WUTON-style student",
        family="appearance flow, parser-free (distilled from the tutor's outputs only)",
        citation="Issenhuth et al., Do Not Mask What You Do Not Need to Mask: a Parser-Free Virtual Try-On, ECCV 2020 "
        "(knowledge); trained as a PF-AFN student (Ge et al., CVPR 2021)",
        inputs=("person", "cloth", "cloth_mask"), resolution=(256, 192),
        official_files=(CHECKPOINT_WEIGHTS, CHECKPOINT_CONFIG),
        weights_source="not released: the final/model folder of a pf-e2e run with knowledge: tutor (pftryon ablate "
        "or the synthetic suite)", parser_free=True, latency_model="wuton_student",
    )  # fmt: skip
    stages = ()  # trained as a PF-AFN student: `pftryon ablate` (knowledge: tutor), not `pftryon train`
    timing_summary = "WUTON-style student: PF-AFN's network (trained with tutor-only knowledge)"

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None) -> Self:
        """As :meth:`TryOnMethod.load`; a training run's ``final/model`` whose ``final/training.json`` records other
        knowledge than ``tutor`` is refused (a PF-AFN student is not a WUTON-style one).

        Raises:
            InputError: as :meth:`TryOnMethod.load`, or the run was trained with teacher+tutor knowledge.
        """
        method = super().load(folder)
        record = Path(folder or ".").parent / "training.json"
        if record.is_file():
            knowledge = json.loads(record.read_text()).get("config", {}).get("knowledge")
            if knowledge != "tutor":
                raise InputError(f"{record}: trained with knowledge {knowledge!r}; {cls.card.name} needs 'tutor'")
        return method


def tutor_inputs(batch: Batch) -> tuple[Tensor, ...]:
    """PB-AFN's inputs from a collated batch, as the official training scripts build them (docs/reference/method.md
    §4.1): the parse mapped to the common label set, DensePose (or its parse-derived stand-in), 18 pose maps, the
    masked garment."""
    person = batch["person"]
    labels = set(batch["parse_labels"])
    if len(labels) != 1:
        raise ValueError(f"a batch mixes parse label sets {sorted(labels)}")
    parse = to_common(batch["parse"].cpu(), labels.pop()).to(person.device)
    densepose = batch.get("densepose")
    densepose = densepose_from_parse(parse) if densepose is None else densepose.long()
    height, width = person.shape[-2:]
    pose = [pose_maps(points, height, width) for points in batch["keypoints"].cpu()]
    rep = person_representation(parse, densepose, person, torch.stack(pose).to(person))
    return (rep.condition, *mask_garment(batch["cloth"], batch["cloth_mask"]), rep.preserve_region, rep.dense_arms)


class PBAFNMethod(TryOnMethod):
    """The PB-AFN tutor (``PF-AFN_train/train_PBAFN_e2e.py``): parse, DensePose and pose instead of the person image.

    PF-AFN releases no tutor weights: its checkpoints are the training scripts' ``PBAFN_{warp,gen}_epoch_101.pth``
    (docs/reference/method.md §4.4) or a pftryon training run.
    """

    card = MethodCard(
        name="pb_afn", title="PB-AFN (tutor)", family="appearance flow, parser-based (PF-AFN's tutor)",
        citation=_PFAFN_CITATION, inputs=("person", "cloth", "cloth_mask", "parse", "keypoints", "densepose"),
        resolution=(256, 192), official_files=("PBAFN_warp_epoch_101.pth", "PBAFN_gen_epoch_101.pth"),
        weights_source="not released: train it (pftryon train --stage pb-warp, pb-e2e) or with PF-AFN_train",
        parser_free=False, latency_model="pb_afn", fallbacks={"densepose": _DENSEPOSE_FALLBACK},
    )  # fmt: skip
    model_class = PBAFN
    size_multiple = 32
    checkpoint_submodules = ("warp", "gen")
    timing_summary = "PB-AFN tutor: 45-channel person representation instead of the person image"

    def inputs(self, batch: Batch) -> tuple[Tensor, ...]:
        return tutor_inputs(batch)

    @classmethod
    def example_inputs(
        cls, batch_size: int, size: Size, generator: torch.Generator | None = None
    ) -> tuple[Tensor, ...]:
        """Random stand-ins of :func:`tutor_inputs`: the 45-channel representation (preserve masks (2) + one-hot
        DensePose (25) + pose maps (18)), the masked garment, its edge, the preserved region, the arm mask."""
        g = generator or torch.Generator().manual_seed(0)
        edge = random_mask(g, batch_size, size)
        representation = random_mask(g, batch_size, size, 45)
        cloth = random_image(g, batch_size, size) * edge
        return representation, cloth, edge, random_image(g, batch_size, size), random_mask(g, batch_size, size)


class FSVTONMethod(MaskedGarmentMethod):
    """FS-VTON as ``Flow-Style-VTON/test/test.py`` runs it: PF-AFN's test preprocessing (person image, garment masked
    by its binarised edge), no parse; the model is built for one image size (its style convs span the coarsest
    level), the released one 256x192."""

    card = MethodCard(
        name="fs_vton", title="FS-VTON", family="style-based global appearance flow, parser-free (distilled)",
        citation="He et al., Style-Based Global Appearance Flow for Virtual Try-On, CVPR 2022",
        inputs=("person", "cloth", "cloth_mask"), resolution=(256, 192),
        official_files=("PFAFN_warp_epoch_101.pth", "PFAFN_gen_epoch_101.pth"),
        weights_source="SenHe/Flow-Style-VTON README (checkpoints/ckp/non_aug)", parser_free=True,
        latency_model="fs_vton",
    )  # fmt: skip

    model_class = FSVTON
    stages = ("fs-warp", "fs-e2e")
    timing_summary = "FS-VTON: style-modulated flow warp + PF-AFN generator + composition, built for the timed size"

    @classmethod
    def build_architecture(cls, size: Size, config: Mapping[str, Any]) -> nn.Module:
        """FS-VTON built for ``size`` unless ``config`` names its own ``fine_height``/``fine_width``."""
        return FSVTON(**{"fine_height": size[0], "fine_width": size[1], **config})


class DMVTONMethod(MaskedGarmentMethod):
    """DM-VTON as ``DM-VTON/test.py`` runs it: the mobile student distilled from a PF-AFN-style teacher, PF-AFN's test
    preprocessing, no parse, any size divisible by 32."""

    card = MethodCard(
        name="dm_vton", title="DM-VTON", family="mobile appearance flow, parser-free (distilled)",
        citation="Nguyen-Ngoc et al., DM-VTON: Distilled Mobile Real-time Virtual Try-On, ISMAR 2023",
        inputs=("person", "cloth", "cloth_mask"), resolution=(256, 192),
        official_files=("dmvton_pf_warp.pt", "dmvton_pf_gen.pt"),
        weights_source="KiseKloset/DM-VTON README (checkpoints/)", parser_free=True, latency_model="dm_vton",
    )  # fmt: skip

    model_class = DMVTON
    stages = ("dm-warp", "dm-e2e")
    timing_summary = "DM-VTON: MobileNetV2 pyramids + PF-AFN flow net, MobileNetV2 U-Net generator + composition"
