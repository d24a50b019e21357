"""The fake task's evaluator."""
