"""The parser-free student stages of FS-VTON and DM-VTON, on the machinery of PF-AFN's (:mod:`pftryon.train.stages`).

Both successors train PF-AFN's way: a frozen parser-based teacher makes a fake person (the unpaired garment put on
her), the parser-free student learns to put her own garment back, supervised by the real image, with the warp
loss ``L_warp`` and adjustable distillation (docs/reference/method.md §4.4-§4.7). Read from the official training
code:

* FS-VTON, SenHe/Flow-Style-VTON ed25d52: ``train/train_PFAFN_stage1_fs.py``, ``train/train_PFAFN_e2e_fs.py``,
  ``train/scripts/train_PFAFN_{stage1,e2e}_fs.sh``, ``train/options/train_options.py``, ``train/models/networks.py``
  (``load_checkpoint_part_parallel``).
* DM-VTON, KiseKloset/DM-VTON 8dc7048: ``train_pf_warp.py``, ``train_pf_e2e.py``, ``scripts/train_pf_{warp,e2e}.sh``,
  ``opt/train_opt.py``, ``utils/lr_utils.py`` (``MyLRScheduler``), ``utils/torch_utils.py`` (``load_ckpt``,
  ``smart_optimizer``), ``losses/vgg_loss.py``.

=========  ========================================================================================================
stage      what the official script does (and what differs from PF-AFN's stage)
=========  ========================================================================================================
fs-warp    PF-AFN's ``pf-warp`` with FS-VTON's warp (:class:`~baselines.fs_vton.StyleAFWM`): ``L_warp`` + person
           feature and flow distillation, lr 3e-5, 100 + 100 epochs, batch 4 on one GPU. The student starts from the
           teacher's warp except ``cond_*`` and ``aflow_net.netRefine`` (but it keeps ``aflow_net.cond_style``);
           epochs before ``niter`` train only ``cond_*`` (with ``cond_style``) and ``netRefine``, then everything.
fs-e2e     PF-AFN's ``pf-e2e`` unchanged: ``0.25 L_warp_PF + gen + skin``, warp lr x0.2, 50 + 50 epochs, skin
           weights (30, 2) then (60, 4) from epoch ``niter``, composition gated by the real garment's mask.
dm-warp    DM-VTON's student :class:`~baselines.dm_vton.MobileAFWM`: lr **5e-5**, **50 + 50** epochs, batch **8**,
           **one** Adam over every parameter from the first epoch (no person-branch phase), the student starts
           **from scratch** (the script passes no ``--pf_warp_checkpoint``), and the distillation also compares the
           **garment-branch** FPN features (``warp_fea_all``) with the teacher's, with the person features' weights
           ``(5-n) 0.04`` and the same adjustable rule.
dm-e2e     like ``pf-e2e`` with DM-VTON's generator (:class:`~baselines.dm_vton.MobileNetV2UNet`, from scratch),
           batch **6**, the garment-branch distillation of ``dm-warp``, the composition mask gated by the warped
           edge **only** (the script comments out the real garment's mask), and skin weights (30, 2) through epoch
           ``niter``, (60, 4) **after** it (``loss_lrdecay = epoch > niter``; PF-AFN switches one epoch earlier).
=========  ========================================================================================================

Schedules: :data:`pftryon.train.config._OFFICIAL`. DM-VTON's ``MyLRScheduler`` is the same per-epoch linear decay as
PF-AFN's (:meth:`~pftryon.train.config.TrainConfig.lr_factor`).

**Deviation: the teacher.** Officially each trains its own parser-based teacher: FS-VTON its ``StyleAFWM(45)`` +
``ResUnetGenerator(8, 4, 5)`` (``train_PBAFN_{stage1,e2e}_fs.py``), DM-VTON the same FS-VTON teacher
(``train_pb_{warp,e2e}.py``). Here, to fit CPU budgets, both share PF-AFN's trained PB-AFN tutor
(``TrainConfig.tutor``, an ``AFWM(45)`` with a correlation flow) and its fake cache. Each stage's :meth:`record`
(``training.json``, key ``stage``) says so, with what follows from it:

* fs-warp cannot start from the teacher's style flow estimator (``netStyle``, ``netF``, ``image_style``,
  ``cond_style``): only the tensors FS-VTON's warp shares with the tutor's (the garment encoder and FPN, when the
  widths agree) are copied. The tensors the tutor could not provide start random, so phase 0 trains them too
  (beside ``cond_*`` and ``netRefine``); in the official setting that set is exactly the official one.
* Features are distilled only when the student's FPN width equals the tutor's (always at width 1, and whenever
  student and tutor share ``TrainConfig.width``); otherwise only the flows are (:class:`_StudentStage`).
* DM-VTON's VGG19 sets its max-pools to ``ceil_mode=True``; :class:`~pftryon.losses.VGGLoss` keeps PF-AFN's
  (floor, PyTorch 1.1 rule). This matters only with ``perceptual: vgg19``.

Widths: ``TrainConfig.width`` scales every width of the student (:func:`fs_widths`, :func:`dm_widths`); 1.0 builds
the official models, whose checkpoints load with the official test code's key names.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from baselines.dm_vton import DMVTON
from baselines.fs_vton import FSVTON
from pftryon.models.afwm import WarpOutput
from pftryon.models.pf_afn import PBAFN
from pftryon.train.config import TrainConfig
from pftryon.train.stage import ParamGroup
from pftryon.train.stages import PFEndToEnd, _Knowledge, _StudentStage, register_stage, scaled_widths

__all__ = ["DMEndToEnd", "DMWarp", "FSEndToEnd", "FSWarp", "dm_widths", "fs_widths"]

_OWN_KEYS = ("cond_", "aflow_net.netRefine")  # what the FS-VTON student does not take from its teacher
_TUTOR = (
    "PF-AFN's PB-AFN tutor (AFWM(45) correlation flow + ResUnetGenerator(8)), shared with PF-AFN's students with its "
    "fake cache, instead of the method's own parser-based teacher"
)
_VGG_POOLS = (
    "VGG19 max-pools in floor mode (PyTorch 1.1 rule, as PF-AFN) where DM-VTON's losses/vgg_loss.py sets "
    "ceil_mode=True (only with perceptual: vgg19)"
)


def fs_widths(config: TrainConfig) -> dict[str, Any]:
    """:class:`~baselines.fs_vton.FSVTON` arguments for ``config``: PF-AFN's :func:`scaled_widths` (generator, encoders,
    FPN, ``netRefine`` heads), the style widths (49, 128) scaled alike, built for ``config.size``."""
    widths = scaled_widths(config.width, scale_flow_heads=config.scale_flow_heads)
    style = config.width if config.scale_flow_heads else 1.0
    return {
        **widths,
        "fine_height": config.size[0],
        "fine_width": config.size[1],
        "style_channels": max(4, round(49 * style)),
        "style_hidden": max(4, round(128 * style)),
    }


# The generator's narrowest level (16 channels in the official MobileNetV2 U-Net) keeps at least the 8 channels of
# PF-AFN's narrowest generator level at width 0.125: below that its 2-channel decoder cannot learn to render.
_DM_GEN_MIN_MULT = 8 / 16


def dm_widths(config: TrainConfig) -> dict[str, Any]:
    """:class:`~baselines.dm_vton.DMVTON` arguments for ``config``: MobileNetV2 multiplier ``width`` for both pyramids,
    FPN width and flow heads as PF-AFN's :func:`scaled_widths` (so the FPN matches the tutor's); the generator's
    multiplier ``width`` too, but at least 0.5 (its narrowest level 8 channels, as PF-AFN's at width 0.125)."""
    widths = scaled_widths(config.width, scale_flow_heads=config.scale_flow_heads)
    return {
        "width_mult": config.width,
        "fpn_dim": widths["fpn_dim"],
        "flow_channels": widths["flow_channels"],
        "gen_width_mult": max(config.width, _DM_GEN_MIN_MULT),
    }


class _Successor:
    """What FS-VTON's and DM-VTON's stages add to their run record: the shared tutor and other deviations."""

    official_teacher: ClassVar[str]
    deviations: ClassVar[tuple[str, ...]] = ()

    def record(self) -> dict[str, Any]:
        record = super().record()  # type: ignore[misc]
        record.update(teacher=_TUTOR, official_teacher=self.official_teacher, deviations=list(self.deviations))
        return record


class FSWarp(_Successor, _StudentStage):
    """FS-VTON's parser-free warp (``train_PFAFN_stage1_fs.py``); see the module docstring.

    Initialised from ``config.init`` when given (a PB-AFN checkpoint), else from the tutor (officially the
    teacher's PB e2e warp): every tensor FS-VTON's warp shares with it, except ``cond_*`` and ``netRefine``.
    Phase 0 (``epoch < niter``) trains ``cond_*``, ``netRefine`` and whatever was not initialised; phase 1 all.
    """

    name = "fs-warp"
    model_class = FSVTON
    init_class = PBAFN
    init_exclude = _OWN_KEYS
    init_shared_only = True
    official_teacher = "FS-VTON's StyleAFWM(45) + ResUnetGenerator(8, 4, 5) (train_PBAFN_{stage1,e2e}_fs.py)"
    deviations = (
        "initialised from the tutor's warp where the architectures share tensors (the garment encoder and FPN); the "
        "style flow estimator, officially the teacher's, starts random and trains from phase 0",
    )

    @classmethod
    def model_config(cls, config: TrainConfig) -> dict[str, Any]:
        return fs_widths(config)

    def init_source(self) -> str | None:
        return self.train_config.init or self.train_config.tutor

    def phase(self, epoch: int) -> int:
        return 0 if epoch < self.train_config.niter else 1

    def param_groups(self, phase: int) -> list[ParamGroup]:
        named = list(self.model.warp.named_parameters())
        if phase == 0:
            own = [p for k, p in named if any(s in k for s in _OWN_KEYS) or k not in self.initialised_keys]
            return [ParamGroup("warp_own", own)]
        return [ParamGroup("warp", [p for _, p in named])]

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, loss, terms = self._student_warp(self._knowledge(batch))
        return loss, {name: value.detach().float() for name, value in terms.items()}


class FSEndToEnd(_Successor, PFEndToEnd):
    """FS-VTON's parser-free end-to-end stage (``train_PFAFN_e2e_fs.py``): PF-AFN's ``pf-e2e`` with FS-VTON's warp,
    initialised from ``fs-warp`` (``init``), generator from scratch."""

    name = "fs-e2e"
    model_class = FSVTON
    init_class = FSVTON
    official_teacher = FSWarp.official_teacher

    @classmethod
    def model_config(cls, config: TrainConfig) -> dict[str, Any]:
        return fs_widths(config)


class DMWarp(_Successor, _StudentStage):
    """DM-VTON's parser-free warp (``train_pf_warp.py``): one phase over every warp parameter, person and garment
    features and flows distilled; the warp starts from scratch unless ``init`` (a DM-VTON checkpoint) is given, as
    the script's optional ``--pf_warp_checkpoint``."""

    name = "dm-warp"
    model_class = DMVTON
    init_class = DMVTON
    init_expected = False
    distill_features = ("person", "cloth")
    official_teacher = "FS-VTON's StyleAFWM(45) + ResUnetGenerator(8, 4, 5) (train_pb_{warp,e2e}.py)"
    deviations = (_VGG_POOLS,)

    @classmethod
    def model_config(cls, config: TrainConfig) -> dict[str, Any]:
        return dm_widths(config)

    def param_groups(self, phase: int) -> list[ParamGroup]:
        return [ParamGroup("warp", list(self.model.warp.parameters()))]

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, loss, terms = self._student_warp(self._knowledge(batch))
        return loss, {name: value.detach().float() for name, value in terms.items()}


class DMEndToEnd(_Successor, PFEndToEnd):
    """DM-VTON's parser-free end-to-end stage (``train_pf_e2e.py``): warp from ``dm-warp`` (lr x0.2), MobileNetV2
    U-Net from scratch; the composition mask gated by the warped edge only; skin weights switch after ``niter``."""

    name = "dm-e2e"
    model_class = DMVTON
    init_class = DMVTON
    distill_features = ("person", "cloth")
    official_teacher = DMWarp.official_teacher
    deviations = (_VGG_POOLS,)

    @classmethod
    def model_config(cls, config: TrainConfig) -> dict[str, Any]:
        return dm_widths(config)

    def skin_weights(self, epoch: int) -> tuple[float, float]:
        """(30, 2) through epoch ``niter``, then (60, 4) (``train_pf_e2e.py``: ``loss_lrdecay = epoch > niter``)."""
        return (30.0, 2.0) if epoch <= self.train_config.niter else (60.0, 4.0)

    def composition_gate(self, out: WarpOutput, knowledge: _Knowledge) -> torch.Tensor:
        """The warped edge alone (``train_pf_e2e.py`` leaves out the real garment's mask)."""
        return out.warped_edge


for _stage in (FSWarp, FSEndToEnd, DMWarp, DMEndToEnd):
    register_stage(_stage)
