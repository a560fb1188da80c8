"""Worker for the 2-process gloo DDP test (run under torch.distributed.run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jakiro.assets import random_llama  # noqa: E402
from jakiro.draft_head import HeadConfig  # noqa: E402
from jakiro.features import FeatureSeq  # noqa: E402
from jakiro.training import TrainConfig, train_head  # noqa: E402

from tests.conftest import tiny_config  # noqa: E402
from tests.helpers import self_generated_samples  # noqa: E402


def main(out: Path) -> None:
    torch.set_num_threads(1)
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    model = random_llama(tiny_config(), seed=0)
    with torch.no_grad():
        seqs = [FeatureSeq(s.input_ids, s.loss_mask, model(s.input_ids[None])[0][0])
                for s in self_generated_samples(model, 8, 16, seed=0)]
    cfg = TrainConfig(lr=1e-3, warmup_steps=1, epochs=5, batch_size=4, max_steps=3,
                      save_every=100)
    summary = train_head(model, seqs, HeadConfig(kind="jakiro"), torch.arange(96), cfg,
                         out / "run", {}, accelerator=acc)
    head = acc.unwrap_model(acc._models[0])
    checksum = float(sum(p.double().sum() for p in head.parameters()))
    rec = {"rank": acc.process_index, "world": summary["world_size"], "checksum": checksum,
           "backend": str(torch.distributed.get_backend()) if acc.num_processes > 1 else None}
    (out / f"rank{acc.process_index}.json").write_text(json.dumps(rec))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
