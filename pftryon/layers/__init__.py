"""Building blocks shared by the try-on models: correlation, flow warping, composition."""

from pftryon.layers.compose import compose_tryon
from pftryon.layers.correlation import (
    KERNELS,
    available_kernels,
    correlation_kernel,
    local_correlation,
    local_correlation_reference,
)
from pftryon.layers.flow import apply_offset, second_order_filters, upsample_flow, warp

__all__ = [
    "KERNELS",
    "apply_offset",
    "available_kernels",
    "compose_tryon",
    "correlation_kernel",
    "local_correlation",
    "local_correlation_reference",
    "second_order_filters",
    "upsample_flow",
    "warp",
]
