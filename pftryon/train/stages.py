"""The four training stages of PF-AFN (docs/reference/method.md §4) behind the :class:`Stage` contract.

=============  ==================================================================================================
stage          loss
=============  ==================================================================================================
``pb-warp``    ``L_warp`` of the PB warp (§4.2)
``pb-e2e``     ``0.5 L_warp + gen`` (§4.3); warp lr x0.2
``pf-warp``    ``L_warp_PF = L_warp + distillation`` of the PF warp (§4.5, §4.6); phase 0 (``epoch < niter``)
               trains only ``cond_*`` and ``aflow_net.netRefine``, phase 1 everything
``pf-e2e``     ``0.25 L_warp_PF + gen + skin`` (§4.7); skin weights (30, 2), then (60, 4) from ``epoch >= niter``
=============  ==================================================================================================

Each stage trains a whole :class:`~pftryon.PBAFN` or :class:`~pftryon.PFAFN` (``warp`` and ``gen``; the
warp-only stages leave ``gen`` at its initialisation), exported as ``{"model": ...}``: written with
:func:`~pftryon.save_pretrained`, the folder is what ``config.init`` of the next stage and ``config.tutor``
expect, and what :func:`~pftryon.load_pretrained` rebuilds.

Knowledge (``config.knowledge``) of the PF stages:

* ``teacher+tutor`` (official, §4.4): the tutor puts the unpaired garment on the person (``p_tryon_un``); the
  student sees that fake person and the real paired garment, and the real person supervises it (warp
  targets: the parse's garment region and mask; try-on target: the real image; skin to render: the fake
  garment's warped mask minus the real garment region).
* ``tutor`` (WUTON-style): the student sees the real person and the unpaired garment, and the tutor's
  outputs for that garment supervise it (warp targets: the tutor's warped garment times its warped mask, and
  that mask; try-on target: ``p_tryon_un``; skin to render: the real garment region minus the tutor's warped
  mask). Distillation then compares with the tutor's warp of the unpaired garment.

Distillation (``config.distill``): ``adjustable`` (§4.5), ``fixed`` (weight 1 for every sample) or ``none``.
``config.parse_noise`` corrupts the parse (:func:`~pftryon.train.representation.corrupt_parse`, per sample
from ``(seed, index)``) before it builds the PB-AFN inputs (warp condition, preserve region, arm masks): those
of the tutor in the PF stages and of the PB model in the PB stages. Loss targets always use the clean parse.
With ``config.fake_cache`` the tutor's fake images come from a :class:`~pftryon.train.fake_cache.FakeCache`
(computed once per tutor input); the tutor's traced warp for distillation is always computed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from pftryon.layers.compose import compose_tryon
from pftryon.losses import VGGLoss, adjustable_weights, distillation_loss, generator_loss, warp_loss
from pftryon.models._checkpoint import CheckpointError, load_state_dict_checked
from pftryon.models._registry import load_pretrained
from pftryon.models.afwm import DEFAULT_CHANNELS, DEFAULT_FLOW_CHANNELS, WarpOutput
from pftryon.models.pf_afn import PBAFN, PFAFN
from pftryon.train.config import TrainConfig
from pftryon.train.fake_cache import FakeCache
from pftryon.train.representation import (
    PersonRepresentation,
    corrupt_parse,
    dense_preserve_mask,
    masked_garments,
    noise_generator,
    person_representation,
)
from pftryon.train.stage import ParamGroup, Stage

__all__ = ["PBEndToEnd", "PBWarp", "PFEndToEnd", "PFWarp", "build_stage", "register_stage", "scaled_widths"]

_logger = logging.getLogger(__name__)

# Keys of the PB warp that the PF student does not inherit (§4.6).
_STUDENT_OWN_KEYS = ("cond_", "aflow_net.netRefine")
_WARP_LR_SCALE = 0.2


def scaled_widths(width: float, *, scale_flow_heads: bool = True) -> dict[str, Any]:
    """Constructor widths of :class:`~pftryon.PFAFN` / :class:`~pftryon.PBAFN` for ``width`` (1.0 = official).

    Returns ``{"ngf", "channels", "fpn_dim", "flow_channels"}``, every official width times ``width``, rounded,
    at least 4. ``scale_flow_heads=False`` keeps the flow heads' official ``(128, 64, 32)``, as before they scaled.
    """

    def scale(channels: int) -> int:
        return max(4, round(channels * width))

    return {
        "ngf": scale(64),
        "channels": tuple(scale(c) for c in DEFAULT_CHANNELS),
        "fpn_dim": scale(256),
        "flow_channels": tuple(scale(c) if scale_flow_heads else c for c in DEFAULT_FLOW_CHANNELS),
    }


def _scalars(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.detach().float() for name, value in terms.items()}


class _TryOnStage(Stage):
    """Shared machinery: the trained model, its initialisation, the perceptual loss and the parse noise.

    A baseline's stage (:mod:`baselines.training`) sets ``model_class`` to its own two-network model (``warp`` and
    ``gen``) and overrides :meth:`model_config` for its widths.
    """

    model_class: ClassVar[type[nn.Module]]
    init_class: ClassVar[type[nn.Module]]  # what config.init holds; its warp initialises ours
    init_exclude: ClassVar[tuple[str, ...]] = ()  # warp keys not taken from it
    init_expected: ClassVar[bool] = True  # the official stage starts from the previous one
    # Take from the init warp only the keys our warp has with the same shape (another architecture's warp).
    init_shared_only: ClassVar[bool] = False

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        if config.stage != self.name:
            raise ValueError(f"{type(self).__name__} trains stage {self.name!r}, got a config for {config.stage!r}")
        self.train_config = config
        self.model = self.model_class(**self.model_config(config))
        self.perceptual = VGGLoss(config.vgg_weights) if config.perceptual == "vgg19" else None
        if self.perceptual is None:
            _logger.info("%s: perceptual: none, the VGG19 terms of every loss are skipped", self.name)
        self.initialised_keys: set[str] = set()  # warp keys taken from the init checkpoint
        self._load_init(self.init_source())

    @classmethod
    def model_config(cls, config: TrainConfig) -> dict[str, Any]:
        """Constructor arguments of ``model_class`` for ``config`` (PF-AFN / PB-AFN: :func:`scaled_widths`)."""
        return scaled_widths(config.width, scale_flow_heads=config.scale_flow_heads)

    def init_source(self) -> str | None:
        """The checkpoint folder whose warp initialises ours (default ``config.init``)."""
        return self.train_config.init

    def record(self) -> dict[str, Any]:
        config = self.model_config(self.train_config)
        record: dict[str, Any] = {"model": type(self.model).__name__, "model_config": config}
        if self.init_shared_only:
            record["init_keys"] = sorted(self.initialised_keys)
        return record

    def _load_init(self, init: str | None) -> None:
        if init is None:
            if self.init_expected:
                _logger.warning("%s: no `init` checkpoint; the warp module starts from random weights", self.name)
            return
        source = load_pretrained(init)
        if not isinstance(source, self.init_class):
            raise CheckpointError(
                f"{self.name}: init {init} holds {type(source).__name__}, expected {self.init_class.__name__}"
            )
        state = self.model.warp.state_dict()
        taken = {k: v for k, v in source.warp.state_dict().items() if not any(p in k for p in self.init_exclude)}
        if self.init_shared_only:
            taken = {k: v for k, v in taken.items() if k in state and state[k].shape == v.shape}
            if not taken:
                _logger.warning("%s: %s shares no warp tensor with ours; the warp starts from random weights",
                                self.name, init)  # fmt: skip
        state.update(taken)
        self.initialised_keys = set(taken)
        load_state_dict_checked(self.model.warp, state, source=f"{init} (warp)")

    def exported(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def _tutor_parse(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The parse PB-AFN sees: corrupted per sample when ``parse_noise > 0``."""
        strength, parse = self.train_config.parse_noise, batch["parse"]
        if strength == 0.0:
            return parse
        seed = self.train_config.seed
        indices = batch["index"].tolist()
        noisy = [
            corrupt_parse(p.cpu(), strength, noise_generator(seed, i)) for p, i in zip(parse, indices, strict=True)
        ]
        return torch.stack(noisy).to(parse.device)

    def _representations(self, batch: dict[str, torch.Tensor]) -> tuple[PersonRepresentation, PersonRepresentation]:
        """``(clean, tutor)``: from the clean parse (loss targets) and from the parse PB-AFN sees (inputs)."""
        rest = (batch["densepose"], batch["person"], batch["pose"])
        clean = person_representation(batch["parse"], *rest)
        tutor_parse = self._tutor_parse(batch)
        return clean, clean if tutor_parse is batch["parse"] else person_representation(tutor_parse, *rest)


class PBWarp(_TryOnStage):
    """Stage 1: the parser-based warp from scratch; loss ``L_warp`` (§4.2)."""

    name = "pb-warp"
    model_class = PBAFN
    init_class = PBAFN
    init_expected = False

    def param_groups(self, phase: int) -> list[ParamGroup]:
        return [ParamGroup("warp", list(self.model.warp.parameters()))]

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        clothes, edge, _, _ = masked_garments(batch)
        clean, noisy = self._representations(batch)
        out = self.model.warp(noisy.condition, clothes, edge, trace=True)
        loss, terms = warp_loss(out, clean.person_clothes, clean.person_clothes_edge, self.perceptual)
        return loss, _scalars(terms)


class PBEndToEnd(_TryOnStage):
    """Stage 2: PB warp (from ``init``, lr x0.2) and generator; ``0.5 L_warp + gen`` (§4.3).

    The generator sees ``cat[preserve_region, warped garment, warped edge, arms * (1 - garment region)]``; the
    composition mask is gated by the warped edge and the clean parse's garment region.
    """

    name = "pb-e2e"
    model_class = PBAFN
    init_class = PBAFN

    def param_groups(self, phase: int) -> list[ParamGroup]:
        return [
            ParamGroup("warp", list(self.model.warp.parameters()), _WARP_LR_SCALE),
            ParamGroup("gen", list(self.model.gen.parameters())),
        ]

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        clothes, edge, _, _ = masked_garments(batch)
        clean, noisy = self._representations(batch)
        out = self.model.warp(noisy.condition, clothes, edge, trace=True)
        warp_total, terms = warp_loss(out, clean.person_clothes, clean.person_clothes_edge, self.perceptual)
        skin = dense_preserve_mask(noisy.dense_arms, noisy.person_clothes_edge)
        gen_out = self.model.gen(torch.cat([noisy.preserve_region, out.warped, out.warped_edge, skin], dim=1))
        composed = compose_tryon(out.warped, gen_out, gate=out.warped_edge * clean.person_clothes_edge)
        gen_total, gen_terms = generator_loss(
            composed["tryon"], composed["rendered"], composed["mask"], batch["person"], self.perceptual
        )
        terms.update(gen_terms, warp=warp_total, gen=gen_total)
        return 0.5 * warp_total + gen_total, _scalars(terms)


@dataclass
class _Knowledge:
    """The student's inputs and targets for one batch (see the module docstring)."""

    person: torch.Tensor
    cloth: torch.Tensor
    edge: torch.Tensor
    target: torch.Tensor
    garment: torch.Tensor
    garment_mask: torch.Tensor
    shown_garment: torch.Tensor
    tutor_warp: WarpOutput | None


class _StudentStage(_TryOnStage):
    """PF stages: a frozen PB-AFN tutor (always eval, no gradients) makes the knowledge the student learns.

    The student is ``model_class`` (PF-AFN here; FS-VTON and DM-VTON in :mod:`baselines.training.flow`): any model
    with a ``warp`` that traces (``trace=True``) and a 7-channel ``gen``. ``distill_features`` names the FPN branches
    whose features are distilled (:func:`~pftryon.losses.distillation_loss`); when the student's FPN width differs
    from the tutor's, the features cannot be compared and only the flows are distilled (logged, and in
    :meth:`record`).
    """

    model_class = PFAFN
    distill_features: ClassVar[tuple[str, ...]] = ("person",)

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        if config.tutor is None:
            raise ValueError(f"{self.name} needs `tutor`: the checkpoint folder of the pb-e2e stage")
        tutor = load_pretrained(config.tutor)
        if not isinstance(tutor, PBAFN):
            raise CheckpointError(f"{self.name}: tutor {config.tutor} holds {type(tutor).__name__}, expected PBAFN")
        self.tutor = tutor.requires_grad_(False).eval()
        self.fakes = FakeCache(config.fake_cache, self.tutor) if config.fake_cache else None
        ours, theirs = self.model.config.get("fpn_dim"), tutor.config.get("fpn_dim")
        self.distilled_features = self.distill_features if ours == theirs else ()
        if self.distill_features and ours != theirs and config.distill != "none":
            _logger.warning("%s: student FPN width %s, tutor's %s: the features are not distilled, only the flows",
                            self.name, ours, theirs)  # fmt: skip

    def record(self) -> dict[str, Any]:
        record = super().record()
        if self.train_config.distill != "none":
            record["distilled_features"] = list(self.distilled_features)
        return record

    def train(self, mode: bool = True) -> _StudentStage:
        """Set the student's mode; the tutor stays in eval mode."""
        super().train(mode)
        self.tutor.eval()
        return self

    @torch.no_grad()
    def _knowledge(self, batch: dict[str, torch.Tensor]) -> _Knowledge:
        clothes, edge, clothes_un, edge_un = masked_garments(batch)
        clean, noisy = self._representations(batch)
        inputs = (noisy.condition, clothes_un, edge_un, noisy.preserve_region, noisy.dense_arms)
        fake = self.fakes(*inputs) if self.fakes is not None else self.tutor(*inputs)
        if self.train_config.knowledge == "teacher+tutor":
            knowledge = _Knowledge(
                person=fake["tryon"], cloth=clothes, edge=edge, target=batch["person"],
                garment=clean.person_clothes, garment_mask=clean.person_clothes_edge,
                shown_garment=fake["warped_edge"], tutor_warp=None,
            )  # fmt: skip
        else:
            knowledge = _Knowledge(
                person=batch["person"], cloth=clothes_un, edge=edge_un, target=fake["tryon"],
                garment=fake["warped_cloth"] * fake["warped_edge"], garment_mask=fake["warped_edge"],
                shown_garment=clean.person_clothes_edge, tutor_warp=None,
            )  # fmt: skip
        if self.train_config.distill != "none":
            knowledge.tutor_warp = self.tutor.warp(noisy.condition, knowledge.cloth, knowledge.edge, trace=True)
        return knowledge

    def _student_warp(self, knowledge: _Knowledge) -> tuple[WarpOutput, torch.Tensor, dict[str, torch.Tensor]]:
        """The student's warp and ``L_warp_PF`` with its terms (and ``distill_weight``, the mean weight)."""
        out = self.model.warp(knowledge.person, knowledge.cloth, knowledge.edge, trace=True)
        total, terms = warp_loss(out, knowledge.garment, knowledge.garment_mask, self.perceptual)
        tutor = knowledge.tutor_warp
        if tutor is not None:
            if self.train_config.distill == "adjustable":
                weights = adjustable_weights(tutor.warped, out.warped, knowledge.garment)
            else:
                weights = torch.ones(out.warped.shape[0], device=out.warped.device)
            distill_total, distill_terms = distillation_loss(out, tutor, weights, features=self.distilled_features)
            total = total + distill_total
            terms.update(distill_terms, distill_weight=weights.mean())
        return out, total, terms


class PFWarp(_StudentStage):
    """Stage 3: the parser-free warp; ``L_warp_PF`` (§4.6).

    Initialised from the pb-e2e checkpoint (``init``) except the keys containing ``cond_`` or
    ``aflow_net.netRefine``. Phase 0 (``epoch < niter``) trains only those; phase 1 trains every warp parameter.
    """

    name = "pf-warp"
    init_class = PBAFN
    init_exclude = _STUDENT_OWN_KEYS

    def phase(self, epoch: int) -> int:
        return 0 if epoch < self.train_config.niter else 1

    def param_groups(self, phase: int) -> list[ParamGroup]:
        named = self.model.warp.named_parameters()
        if phase == 0:
            return [ParamGroup("warp_own", [p for k, p in named if any(s in k for s in _STUDENT_OWN_KEYS)])]
        return [ParamGroup("warp", [p for _, p in named])]

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, loss, terms = self._student_warp(self._knowledge(batch))
        return loss, _scalars(terms)


class PFEndToEnd(_StudentStage):
    """Stage 4: PF warp (from ``init``, lr x0.2) and generator; ``0.25 L_warp_PF + gen + skin`` (§4.7).

    The generator sees ``cat[student's person input, warped garment, warped edge]``; the composition mask is
    gated by the warped edge and the target garment mask.
    """

    name = "pf-e2e"
    init_class = PFAFN

    def param_groups(self, phase: int) -> list[ParamGroup]:
        return [
            ParamGroup("warp", list(self.model.warp.parameters()), _WARP_LR_SCALE),
            ParamGroup("gen", list(self.model.gen.parameters())),
        ]

    def skin_weights(self, epoch: int) -> tuple[float, float]:
        """``(lambda1, lambda2)`` of the skin terms: (30, 2) before epoch ``niter``, then (60, 4)."""
        return (30.0, 2.0) if epoch < self.train_config.niter else (60.0, 4.0)

    def composition_gate(self, out: WarpOutput, knowledge: _Knowledge) -> torch.Tensor:
        """What the composition mask is multiplied by: the warped edge and the target garment mask."""
        return out.warped_edge * knowledge.garment_mask

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        knowledge = self._knowledge(batch)
        out, warp_total, terms = self._student_warp(knowledge)
        gen_out = self.model.gen(torch.cat([knowledge.person, out.warped, out.warped_edge], dim=1))
        composed = compose_tryon(out.warped, gen_out, gate=self.composition_gate(out, knowledge))
        skin = knowledge.shown_garment * (1 - knowledge.garment_mask)
        gen_total, gen_terms = generator_loss(
            composed["tryon"], composed["rendered"], composed["mask"], knowledge.target, self.perceptual,
            skin=skin, skin_weights=self.skin_weights(epoch),
        )  # fmt: skip
        terms.update(gen_terms, warp=warp_total, gen=gen_total)
        return 0.25 * warp_total + gen_total, _scalars(terms)


_STAGES: dict[str, type[Stage]] = {cls.name: cls for cls in (PBWarp, PBEndToEnd, PFWarp, PFEndToEnd)}


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Register a :class:`Stage` subclass under its ``name`` (a stage of :data:`~pftryon.train.config.ALL_STAGES`).

    The baselines register theirs when :mod:`baselines.training` is imported; PF-AFN's are registered here.
    """
    if cls.name in _STAGES:
        raise ValueError(f"stage {cls.name!r} is already registered")
    _STAGES[cls.name] = cls
    return cls


def build_stage(config: TrainConfig) -> Stage:
    """The stage ``config.stage``, built and initialised from ``config`` (``init``, ``tutor``, widths...).

    Raises:
        ValueError: an unregistered stage (a baseline's stage needs ``import baselines.training`` first) or a missing
            tutor.
        CheckpointError: an ``init``/``tutor`` of the wrong model, or unreadable.
        FileNotFoundError: ``perceptual: vgg19`` without the VGG19 weights file.
    """
    if config.stage not in _STAGES:
        raise ValueError(
            f"stage {config.stage!r} is not registered (registered: {', '.join(sorted(_STAGES))}); the baselines' "
            "stages register when baselines.training is imported"
        )
    return _STAGES[config.stage](config)
