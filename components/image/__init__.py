"""The image classification task's components: its evaluation config (TFMA)."""
