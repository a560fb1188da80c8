"""Test session setup: one torch thread (2-core CI machine shared with other jobs)."""

import os

import torch
from hypothesis import settings

torch.set_num_threads(1)

# Fixed examples by default: a red CI run must be reproducible. HYPOTHESIS_PROFILE=explore
# searches fresh examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
