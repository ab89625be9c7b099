"""Narrow widths for the smoke test (``--tiny``): the constructor arguments that make each built-in model class a
few channels wide (the same architecture, so every code path runs, in milliseconds on a CPU)."""

from __future__ import annotations

from typing import Any

__all__ = ["tiny_config"]

_AFN = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16}


def tiny_config(method: str) -> dict[str, Any] | None:
    """The narrow configuration of ``method``'s model class; ``None`` (the released architecture) for a method
    without weights or a model class not listed here."""
    from baselines.cp_vton import CPVTON
    from baselines.dm_vton import DMVTON
    from baselines.fs_vton import FSVTON
    from bench.methods import method_class
    from pftryon.models import PBAFN, PFAFN

    widths = {PFAFN: _AFN, PBAFN: _AFN, FSVTON: _AFN, CPVTON: {"width": 0.125},
              DMVTON: {"width_mult": 0.25, "fpn_dim": 16}}  # fmt: skip
    adapter = method_class(method)
    if not adapter.card.official_files or adapter.model_class is None:
        return None
    config = widths.get(adapter.model_class)
    return None if config is None else dict(config)
