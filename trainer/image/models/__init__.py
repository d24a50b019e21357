"""One file per model architecture; `trainer.registry` maps names to them."""
