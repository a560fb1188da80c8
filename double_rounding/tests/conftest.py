import os

import pytest
import torch
from hypothesis import settings

# Small nets run faster on one thread, and the CI machine has 2 shared cores.
torch.set_num_threads(1)

# Fixed examples by default: a red CI run must be reproducible. HYPOTHESIS_PROFILE=explore
# searches fresh examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def tiny_model():
    from double_rounding.convert import calibrate
    from double_rounding.models import load_model

    torch.manual_seed(0)
    model = load_model("resnet20", [8, 6, 4, 2], in_channels=1, width=0.25, blocks_per_stage=1)
    x = torch.randn(8, 1, 32, 32)
    calibrate(model, x, [8, 6, 4, 2])
    return model, x
