"""The fuzzing budget the tests share: small and repeatable by default, larger on demand
(README, "Test it").

PETITIONS_FUZZ_EXAMPLES is the number of requests generated per API operation by schemathesis
(tests/web/api/test_fuzzing.py); each hostile-input property test tries five times as many
inputs. PETITIONS_FUZZ_SEED seeds both, so a run can be repeated exactly, or another one made.
"""

import os

from hypothesis import seed, settings

EXAMPLES = int(os.environ.get("PETITIONS_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("PETITIONS_FUZZ_SEED", "20261204"))


def hostile(test):
    """A property test run on the shared budget and seed."""
    return seed(SEED)(settings(max_examples=5 * EXAMPLES)(test))
