"""The image Trainer's configuration: its custom_config, typed.

The pipeline builds the custom_config from this class (`dataclasses.asdict`), and the
Trainer parses it back with `from_custom_config`, so both sides agree on every key.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from trainer.config_dict import from_dict


@dataclasses.dataclass
class TrainConfig:
    """Unset fields fall back to the registry entry."""
    model: str
    image_shape: List[int]
    num_classes: int
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    seed: int = 42
    mixed_precision: bool = False
    # Folder corpora: the class names in id order (the sorted class folder list, the same
    # for every split); the exported model answers with them. None: ids only.
    class_names: Optional[List[str]] = None
    # Where BackupAndRestore keeps its checkpoint; must outlive a killed attempt, so it is
    # derived from the pipeline root and the inputs (see backup_dir()), not the run dir.
    backup_dir: Optional[str] = None

    @classmethod
    def from_custom_config(cls, config: Dict[str, Any]) -> "TrainConfig":
        return from_dict(cls, config, "Trainer custom_config")
