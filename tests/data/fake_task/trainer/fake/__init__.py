"""A line fitted to (x, y) points: the smallest task a pipeline can run."""
