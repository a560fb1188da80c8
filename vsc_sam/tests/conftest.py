"""Test session setup: one torch thread (2-core CI machine shared with other jobs)."""

import torch

torch.set_num_threads(1)
