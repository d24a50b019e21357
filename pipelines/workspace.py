"""Where a workspace is when none is named. Its own module: commands that need nothing
else (`classics rollback`) import it without importing TFX."""
import os


def default_workspace() -> str:
    return os.path.abspath(os.environ.get("CLASSICS_HOME", "workspace"))
