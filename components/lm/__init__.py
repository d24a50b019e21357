"""The language-model task's components: its evaluator (perplexity against the served
model)."""
