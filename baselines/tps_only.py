"""The TPS-only baseline: CP-VTON's GMM warp pasted onto the person by the warped mask, no try-on module.

It isolates what CP-VTON's thin-plate-spline warp alone achieves: the garment warped by the GMM replaces the
person's pixels wherever the warped garment mask lies, and nothing renders the arms, the neck or the old garment's
leftovers. The GMM is CP-VTON's (cloth input) or CP-VTON+'s (cloth-mask input), taken from either model's checkpoint.
"""

from __future__ import annotations

import os

import torch

from baselines.cp_vton import CPVTON, GMMWarp
from pftryon.models import load_state_dict_checked, read_state_dict

__all__ = ["TPSOnly"]


class TPSOnly(GMMWarp):
    """``TPSOnly()(agnostic, cloth, cloth_mask, person)``: ``person * (1 - m) + warped_cloth * m``.

    ``m`` is the GMM-warped cloth mask (bilinear, zero padding: soft at the garment's edge), ``warped_cloth`` the
    warped cloth (border padding), both as :class:`~baselines.cp_vton.CPVTON` computes them.

    Args:
        plus: The GMM reads the cloth mask (CP-VTON+) instead of the cloth (CP-VTON).
        fine_height, fine_width, grid_size, width: As :class:`~baselines.cp_vton.CPVTON`.
    """

    def forward(
        self, agnostic: torch.Tensor, cloth: torch.Tensor, cloth_mask: torch.Tensor, person: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Warp the cloth and paste it.

        Args:
            agnostic: The GMM's person representation ``[B, 22, H, W]``.
            cloth: ``[B, 3, H, W]`` in [-1, 1].
            cloth_mask: ``[B, 1, H, W]`` in {0, 1}.
            person: ``[B, 3, H, W]`` in [-1, 1].

        Returns:
            ``theta``, ``grid``, ``warped_cloth``, ``warped_mask`` and ``tryon``.

        Raises:
            ValueError: If an input does not have the expected shape.
        """
        self.check_inputs(agnostic=(agnostic, self.agnostic_channels), cloth=(cloth, 3), cloth_mask=(cloth_mask, 1),
                          person=(person, 3))  # fmt: skip
        warped = self.warp_garment(agnostic, cloth, cloth_mask)
        mask = warped["warped_mask"]
        return {**warped, "tryon": person * (1 - mask) + warped["warped_cloth"] * mask}

    @classmethod
    def from_cpvton(cls, model: CPVTON) -> TPSOnly:
        """The TPS-only baseline of a CP-VTON or CP-VTON+ model: its GMM (weights shared), in ``model``'s mode."""
        config = model.config
        tps = cls(**config)
        tps.gmm = model.gmm
        return tps.train(model.training)

    @classmethod
    def from_official(cls, gmm_path: str | os.PathLike[str]) -> TPSOnly:
        """Build from an official ``gmm_final.pth`` (CP-VTON's, or CP-VTON+'s: told apart by the cloth branch's input
        channels), in eval mode.

        Raises:
            CheckpointError: If the file cannot be read safely or its keys or shapes do not fit, naming them.
        """
        state = read_state_dict(gmm_path)
        first = state.get("extractionB.model.0.weight")
        model = cls(plus=first is not None and first.ndim == 4 and first.shape[1] == 1)
        load_state_dict_checked(model.gmm, state, source=str(gmm_path))
        return model.eval()
