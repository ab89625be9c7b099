"""pftryon: PF-AFN (parser-free appearance flow try-on), its PB-AFN tutor, and the building blocks they share."""

from pftryon.models import (
    PBAFN,
    PFAFN,
    CheckpointError,
    create_model,
    list_models,
    load_pretrained,
    save_pretrained,
)

__all__ = ["PBAFN", "PFAFN", "CheckpointError", "create_model", "list_models", "load_pretrained", "save_pretrained"]
__version__ = "0.1.0"
