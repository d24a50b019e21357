"""Where the repository and the tests' data files are, for tests in any folder."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DATA = os.path.join(REPO, "tests", "data")
