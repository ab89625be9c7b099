"""The one interface every try-on method has in the harness: a card, its checkpoints, and a batch -> try-on call.

A method adapter turns a batch of the common sample schema (:mod:`bench.data.schema`, collated) into the inputs its
official test script builds, runs the model, and returns the model's outputs (``tryon`` always, in [-1, 1]; ``flow``,
the normalised sampling grid ``[B, 2, H, W]`` the garment was warped by, when the method warps by a dense grid: an
appearance flow or CP-VTON's thin-plate spline). Models live in :mod:`pftryon` and :mod:`baselines` and know nothing of
the harness; adapters are the only place that knows both a model and the sample schema.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from torch import Tensor, nn

from bench.data.readers import InputError, file_sha256
from pftryon.models import CHECKPOINT_CONFIG, CHECKPOINT_WEIGHTS, init_deterministic_, load_pretrained

__all__ = ["MethodCard", "MissingFieldError", "TryOnMethod", "file_sha256", "random_image", "random_mask"]

Batch = Mapping[str, Any]
Size = tuple[int, int]


def random_image(generator: torch.Generator, batch: int, size: Size, channels: int = 3) -> Tensor:
    """``[batch, channels, H, W]`` uniform in [-1, 1] (an image as the sample schema holds it), drawn from
    ``generator``."""
    return torch.rand(batch, channels, *size, generator=generator) * 2 - 1


def random_mask(generator: torch.Generator, batch: int, size: Size, channels: int = 1) -> Tensor:
    """``[batch, channels, H, W]`` in {0, 1} (float), each value 1 with probability 0.5, drawn from ``generator``."""
    return (torch.rand(batch, channels, *size, generator=generator) > 0.5).float()


# Random stand-ins of the collated sample fields a model can take (shapes of bench.data.schema, batch first).
_EXAMPLE_FIELDS: dict[str, Callable[[int, Size, torch.Generator], Tensor]] = {
    "person": lambda b, size, g: random_image(g, b, size),
    "cloth": lambda b, size, g: random_image(g, b, size),
    "cloth_mask": lambda b, size, g: random_mask(g, b, size),
    "parse": lambda b, size, g: torch.randint(0, 20, (b, *size), generator=g),  # LIP's 20 labels
    "densepose": lambda b, size, g: torch.randint(0, 25, (b, *size), generator=g),
    "keypoints": lambda b, size, g: torch.rand(b, 18, 3, generator=g) * torch.tensor([size[1], size[0], 1.0]),
}


class MissingFieldError(InputError):
    """A method needs a sample field that a dataset does not provide."""


@dataclass(frozen=True)
class MethodCard:
    """What a user needs to know about a method before running it.

    Attributes:
        name: registry name (lower case, ``_``), also the folder name of its outputs.
        title: display name (``PF-AFN``).
        family: what kind of method it is (appearance flow, TPS warp, lower bound).
        citation: paper and venue.
        inputs: sample fields the method consumes (:data:`bench.data.schema.SAMPLE_KEYS`).
        resolution: ``(H, W)`` of the released model.
        official_files: checkpoint files of the released model, in the order ``from_official`` takes them; empty
            when the method has no weights.
        weights_source: where users get the official files.
        parser_free: whether it runs without a human parse at test time.
        latency_model: the name :mod:`bench.latency` times it under (``pftryon latency --model``, the suite's
            latency rows): a registered method name, whose adapter's :meth:`TryOnMethod.build_for_timing` model is
            timed on its :meth:`TryOnMethod.example_inputs` (the built-ins: their own name); ``None`` (or empty):
            defining the adapter class sets it to the class's own ``module:Class``.
        fallbacks: ``{field: note}``: documented substitutes used when a dataset lacks the field (the note is
            written into every report that used it).
    """

    name: str
    title: str
    family: str
    citation: str
    inputs: tuple[str, ...]
    resolution: tuple[int, int]
    official_files: tuple[str, ...]
    weights_source: str
    parser_free: bool
    latency_model: str | None = None
    fallbacks: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The card as plain data (for results files)."""
        return {**dataclasses.asdict(self), "fallbacks": dict(self.fallbacks)}


class TryOnMethod(ABC):
    """A try-on method in the harness: ``method(batch)`` returns the model's outputs for a collated sample batch.

    Subclasses set :attr:`card`, implement :meth:`inputs` (the official test preprocessing from the sample schema)
    and :meth:`from_official` (or set :attr:`model_class`, whose ``from_official`` takes the official files), or
    :meth:`build_weightless` for a method without weights; :meth:`example_inputs` when timing needs other inputs than
    the card's fields, :meth:`build_architecture` when the model is built for one size; :attr:`stages` when
    ``pftryon train`` trains it.

    Class attributes (what the harness needs of a method besides its card):
        model_class: the model's class (built from a configuration; a pftryon checkpoint must hold one).
        stages: its training stages in order (``pftryon train --method NAME --stage S``), names in
            :mod:`pftryon.train.stages`' registry; empty: not trainable here.
        size_multiple: height and width it is timed at must be multiples of this.
        checkpoint_submodules: the submodules the official files hold, one file each, given deterministic weights
            by :meth:`build_for_timing` (the conformance rule keys each file's state dict); empty: the whole model.
        timing_summary: one line on what :mod:`bench.latency` times (its report); empty: the card's title and
            "its adapter's model on example_inputs".

    Attributes:
        model: the network, in eval mode.
        checkpoints: ``{file path: sha256}`` of every weights file loaded (empty for weight-free methods).
        config: the model's architecture configuration (what :mod:`bench.latency` builds to time it).
    """

    card: ClassVar[MethodCard]
    model_class: ClassVar[type[nn.Module] | None] = None
    stages: ClassVar[tuple[str, ...]] = ()
    size_multiple: ClassVar[int] = 1
    checkpoint_submodules: ClassVar[tuple[str, ...]] = ()
    timing_summary: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        card = cls.__dict__.get("card")
        # No latency name (or another adapter's module:Class, copied with its card by dataclasses.replace): timed as
        # itself.
        if isinstance(card, MethodCard) and (not card.latency_model or ":" in card.latency_model):
            cls.card = dataclasses.replace(card, latency_model=f"{cls.__module__}:{cls.__qualname__}")

    def __init__(self, model: nn.Module, checkpoints: Mapping[str, str], config: Mapping[str, Any]) -> None:
        self.model = model.eval()
        self.checkpoints = dict(checkpoints)
        self.config = dict(config)

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None) -> Self:
        """Load from ``folder``: the official files of :attr:`MethodCard.official_files`, or a pftryon checkpoint
        (``model.safetensors`` + ``config.json``, as training writes).

        Raises:
            InputError: the folder or a file is missing (named, with where to get it).
            CheckpointError: a file does not fit the architecture (named by the loader).
        """
        if not cls.card.official_files:
            return cls(cls.build_weightless(), {}, {})
        if folder is None:
            raise InputError(
                f"{cls.card.name}: no checkpoint folder given; it needs a folder with "
                f"{', '.join(cls.card.official_files)} ({cls.card.weights_source}) or a pftryon checkpoint"
            )
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: checkpoint folder of {cls.card.name} not found")
        if (folder / CHECKPOINT_CONFIG).is_file():
            model = load_pretrained(folder)
            expected = cls.model_class
            if expected is not None and not isinstance(model, expected):
                raise InputError(
                    f"{folder / CHECKPOINT_CONFIG}: a {type(model).__name__} checkpoint, {cls.card.name} needs "
                    f"{expected.__name__}"
                )
            files = [folder / CHECKPOINT_WEIGHTS, folder / CHECKPOINT_CONFIG]
            return cls(model, {str(p): file_sha256(p) for p in files}, getattr(model, "config", {}))
        paths = [folder / name for name in cls.card.official_files]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise InputError(
                f"{missing[0]}: checkpoint file not found. Put the official {cls.card.title} files "
                f"({', '.join(cls.card.official_files)}; {cls.card.weights_source}) in {folder}, or a pftryon "
                f"checkpoint ({CHECKPOINT_WEIGHTS} + {CHECKPOINT_CONFIG})"
            )
        model = cls.from_official(paths)
        return cls(model, {str(p): file_sha256(p) for p in paths}, getattr(model, "config", {}))

    @classmethod
    def from_official(cls, paths: Sequence[Path]) -> nn.Module:
        """Build the model from the official files (in :attr:`MethodCard.official_files` order)."""
        if cls.model_class is None:
            raise NotImplementedError(f"{cls.__name__} has no model_class; override from_official")
        return cls.model_class.from_official(*paths)  # type: ignore[attr-defined]

    @classmethod
    def build_weightless(cls) -> nn.Module:
        """The model of a method without weights (lower bounds); others never call it."""
        raise NotImplementedError(f"{cls.card.name} needs checkpoints")

    @classmethod
    def build_architecture(cls, size: Size, config: Mapping[str, Any]) -> nn.Module:
        """The model's architecture for inputs of ``size`` ``(H, W)`` from ``config`` (constructor arguments),
        randomly initialised: :attr:`model_class` built from ``config``; override for a model built for one size.

        Raises:
            InputError: no :attr:`model_class`.
        """
        if cls.model_class is None:
            raise InputError(f"{cls.card.latency_model}: timing builds the model without checkpoints; set model_class "
                             "on the adapter (built from its configuration)")  # fmt: skip
        return cls.model_class(**config)

    @classmethod
    def build_for_timing(cls, size: Size = (256, 192), config: Mapping[str, Any] | None = None) -> nn.Module:
        """The model :mod:`bench.latency` times at ``size`` ``(H, W)``: the weight-free model, or
        :meth:`build_architecture` (the released architecture when ``config`` is ``None``) with deterministic
        weights (:func:`pftryon.models.init_deterministic_` on each of :attr:`checkpoint_submodules`, else on the
        whole model) as the adapter holds it (e.g. wrapped), in eval mode, float32, on the CPU.

        Raises:
            InputError: a method with weights and no :attr:`model_class` (nor :meth:`build_architecture`).
        """
        if not cls.card.official_files:
            return cls.load(None).model
        config = dict(config or {})
        model = cls.build_architecture(size, config)
        for module in [model.get_submodule(name) for name in cls.checkpoint_submodules] or [model]:
            init_deterministic_(module)
        return cls(model, {}, config).model

    @classmethod
    def check_fields(cls, sample: Mapping[str, Any], dataset: str) -> list[str]:
        """Check that ``sample`` (one sample of ``dataset``) has the fields this method needs.

        Returns:
            Notes on the documented fallbacks that will be used (e.g. DensePose derived from the parse).

        Raises:
            MissingFieldError: a needed field is absent and has no fallback (one line naming method, field, dataset).
        """
        notes = []
        for name in cls.card.inputs:
            if sample.get(name) is not None:
                continue
            if name in cls.card.fallbacks:
                notes.append(f"{cls.card.name} on {dataset}: {cls.card.fallbacks[name]}")
                continue
            raise MissingFieldError(
                f"{cls.card.name} needs the sample field {name!r}, which dataset {dataset} does not provide"
            )
        return notes

    @abstractmethod
    def inputs(self, batch: Batch) -> tuple[Tensor, ...]:
        """The model's positional inputs for a collated batch, built as the official test script builds them."""

    @classmethod
    def example_inputs(
        cls, batch_size: int, size: Size, generator: torch.Generator | None = None
    ) -> tuple[Tensor, ...]:
        """Random model inputs for ``batch_size`` samples of ``size`` ``(H, W)``, drawn from ``generator`` (default
        seed 0): what :mod:`bench.latency` times and counts FLOPs on (the forward arguments of
        :meth:`build_for_timing`'s model, on the CPU, float32 and label maps int64).

        By default one tensor per :attr:`MethodCard.inputs` field, in that order, shaped as the collated field
        (:mod:`bench.data.schema`: images in [-1, 1], masks in {0, 1}, label maps, keypoints in pixels); override it
        when :meth:`inputs` builds something else.

        Raises:
            InputError: a field has no random stand-in (a string field).
        """
        generator = generator or torch.Generator().manual_seed(0)
        missing = [name for name in cls.card.inputs if name not in _EXAMPLE_FIELDS]
        if missing:
            raise InputError(f"{cls.card.name}: no random stand-in for {', '.join(missing)}; override example_inputs")
        return tuple(_EXAMPLE_FIELDS[name](batch_size, size, generator) for name in cls.card.inputs)

    def to(self, device: torch.device | str) -> Self:
        """Move the model to ``device`` (in place); returns ``self``."""
        self.model.to(device)
        return self

    @torch.inference_mode()
    def __call__(self, batch: Batch) -> dict[str, Tensor]:
        """Run on a collated batch (tensors already on the model's device); ``tryon`` is ``[B, 3, H, W]`` in [-1, 1]."""
        return self.model(*self.inputs(batch))

    def describe(self) -> dict[str, Any]:
        """Card, architecture configuration and checkpoint sha256s (written beside every output)."""
        return {"card": self.card.to_dict(), "config": self.config, "checkpoints": self.checkpoints}
