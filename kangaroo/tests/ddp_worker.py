"""One rank of the 2-process gloo DDP test (spawned by test_training.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist


def main(rank: int, world: int, init_file: str, out: str) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_training import setup

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    adapter, head, data, tc = setup(steps=2, batch=2)
    from kangaroo.training import train_adapter

    train_adapter(adapter, head, data, tc, Path(out) / f"rank{rank}", "h", {})
    torch.save({k: v.clone() for k, v in adapter.state_dict().items()},
               Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
