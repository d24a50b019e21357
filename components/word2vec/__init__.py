"""The word-embedding task's components: its evaluator (word similarity, analogies,
held-out loss, against the served model)."""
