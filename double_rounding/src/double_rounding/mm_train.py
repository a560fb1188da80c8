"""Train or test an mmdet / mmseg config with the bit-switchable backbone (mmengine Runner).

    python -m double_rounding.mm_train configs/mm/retinanet_r18_coco_paper.py --work-dir runs/mm
    python -m double_rounding.mm_train CONFIG --test --checkpoint runs/mm/iter_8.pth \
        --cfg-options custom_hooks.0.eval_bits=4
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--test", action="store_true", help="evaluate --checkpoint instead of training")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                    help="pytorch under torchrun for multi-GPU")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    a = ap.parse_args(argv)

    from double_rounding.mm_backbone import register_mm_modules

    if not register_mm_modules():
        raise SystemExit("mmdet / mmseg are not importable: run `make setup-mm` first")
    from mmengine.config import Config, DictAction
    from mmengine.runner import Runner

    if not Path(a.config).is_file():
        raise SystemExit(f"no such config {a.config}")
    cfg = Config.fromfile(a.config)
    if a.cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument("--o", nargs="+", action=DictAction)
        cfg.merge_from_dict(parser.parse_args(["--o", *a.cfg_options]).o)
    cfg.launcher = a.launcher
    cfg.work_dir = a.work_dir or str(Path("runs/mm") / Path(a.config).stem)
    if a.test:
        if not a.checkpoint:
            raise SystemExit("--test needs --checkpoint")
        cfg.load_from = a.checkpoint
    runner = Runner.from_cfg(cfg)
    runner.test() if a.test else runner.train()


if __name__ == "__main__":
    main()
