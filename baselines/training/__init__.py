"""Training stages of the baselines, registered with :func:`pftryon.train.stages.register_stage` on import.

Each module trains one family with its official losses and schedule (cited in the module), through the same
:class:`~pftryon.train.trainer.Trainer` as PF-AFN (exact resume, DDP, JSONL logs).
"""

from baselines.training import (
    cp_vton,  # noqa: F401  (cp-gmm, cp-tom, cpplus-gmm, cpplus-tom)
    flow,  # noqa: F401  (fs-warp, fs-e2e, dm-warp, dm-e2e)
)
