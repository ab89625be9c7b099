"""The try-on composition shared by PF-AFN, PB-AFN and CP-VTON."""

from __future__ import annotations

import torch

__all__ = ["compose_tryon"]


def compose_tryon(
    warped_cloth: torch.Tensor, gen_out: torch.Tensor, gate: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Blend a rendered person with the warped garment.

    ``gen_out`` is the generator's raw 4-channel output: ``rendered = tanh(gen_out[:, :3])`` and
    ``mask = sigmoid(gen_out[:, 3:])``, multiplied by ``gate`` when given (PF-AFN gates with the
    warped edge; CP-VTON does not gate). ``tryon = warped_cloth * mask + rendered * (1 - mask)``.
    """
    rendered, logits = torch.split(gen_out, [3, 1], dim=1)
    rendered = torch.tanh(rendered)
    mask = torch.sigmoid(logits)
    if gate is not None:
        mask = mask * gate
    tryon = warped_cloth * mask + rendered * (1 - mask)
    return {"rendered": rendered, "mask": mask, "tryon": tryon}
