"""Model families of pftryon and the machinery to build, load and save them."""

from pftryon.models._checkpoint import (
    CheckpointError,
    atomic_write,
    clean_state_dict,
    load_state_dict_checked,
    read_state_dict,
)
from pftryon.models._deterministic import deterministic_state_dict, init_deterministic_
from pftryon.models._inference import fold_batchnorm_, optimize_for_inference
from pftryon.models._registry import (
    CHECKPOINT_CONFIG,
    CHECKPOINT_WEIGHTS,
    create_model,
    list_models,
    load_pretrained,
    register_model,
    save_pretrained,
)
from pftryon.models._two_file import TRAINING_ONLY_WARP_KEYS, WarpGenFiles
from pftryon.models.afwm import AFWM, WarpOutput
from pftryon.models.pf_afn import OFFICIAL_GEN_FILE, OFFICIAL_WARP_FILE, PBAFN, PFAFN, mask_garment
from pftryon.models.resunet import ResUnetGenerator

__all__ = [
    "AFWM",
    "CHECKPOINT_CONFIG",
    "CHECKPOINT_WEIGHTS",
    "OFFICIAL_GEN_FILE",
    "OFFICIAL_WARP_FILE",
    "PBAFN",
    "PFAFN",
    "CheckpointError",
    "ResUnetGenerator",
    "TRAINING_ONLY_WARP_KEYS",
    "WarpGenFiles",
    "WarpOutput",
    "atomic_write",
    "clean_state_dict",
    "create_model",
    "deterministic_state_dict",
    "fold_batchnorm_",
    "init_deterministic_",
    "list_models",
    "load_pretrained",
    "load_state_dict_checked",
    "mask_garment",
    "optimize_for_inference",
    "read_state_dict",
    "register_model",
    "save_pretrained",
]
