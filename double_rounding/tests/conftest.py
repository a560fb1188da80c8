import os

import pytest
import torch

# Small nets run faster on one thread, and the CI machine has 2 shared cores.
torch.set_num_threads(1)
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
