"""The one error type for bad input files: it names the file and says what is wrong.

Every reader raises a subclass, so the CLI, the runners and the tests recognise bad input
by this class alone, and the message's first words are always the path.
"""
from __future__ import annotations


class InputFileError(ValueError):
    """`path` (a file or folder) cannot be used: `problem` says why."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self):
        # Beam pickles exceptions raised in workers; keep both fields across the trip.
        return (type(self), (self.path, self.problem))
