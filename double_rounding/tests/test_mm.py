"""Detection / segmentation with the bit-switchable quantized ResNet backbone (mmdet RetinaNet,
mmseg Semantic FPN) on the tiny synthetic sets of `mm_data`. Needs `make setup-mm`."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

MISSING = [m for m in ("mmcv", "mmengine", "mmdet", "mmseg") if importlib.util.find_spec(m) is None]
if MISSING:
    pytest.skip(f"{', '.join(MISSING)} not importable; run `make setup-mm` for these tests",
                allow_module_level=True)

from double_rounding.convert import QuantSpec, quantize_model, set_precision  # noqa: E402
from double_rounding.mm_backbone import QuantResNet, build_float_resnet  # noqa: E402
from double_rounding.mm_data import write_synthetic_coco, write_synthetic_seg  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "mm"
BITS = [8, 4]


def _load_cfg(name: str, data_root: Path):
    from mmengine.config import Config

    from double_rounding.mm_backbone import register_mm_modules

    assert register_mm_modules()
    cfg = Config.fromfile(str(CONFIGS / name))
    root = str(data_root) + "/"
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cfg[key].dataset.data_root = root
    if "ann_file" in cfg.val_evaluator:
        cfg.val_evaluator.ann_file = root + "annotations/instances.json"
    return cfg


def _loader(cfg, registry_scope: str):
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, init_default_scope

    init_default_scope(registry_scope)
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    return dataset, torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=False,
                                                collate_fn=pseudo_collate)


def _total(losses: dict) -> torch.Tensor:
    return sum(sum(v) if isinstance(v, list) else v for k, v in losses.items() if "loss" in k)


def test_bit_switching_changes_features_and_matches_plain_quantized_resnet() -> None:
    torch.manual_seed(0)
    bb = QuantResNet(depth=18, width=0.25, bits=BITS, out_indices=(1, 2, 3)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        bb.set_bits(8)
        f8 = bb(x)
        bb.set_bits(4)
        f4 = bb(x)
    assert [tuple(f.shape[1:]) for f in f8] == [(32, 8, 8), (64, 4, 4), (128, 2, 2)]
    assert bb.out_channels[1:] == [32, 64, 128]
    assert all((a - b).abs().max() > 1e-3 for a, b in zip(f8, f4, strict=True))

    # the same weights in a plain quantized torchvision ResNet (convert.quantize_model +
    # set_precision) give the same stage outputs at every bit-width
    plain = build_float_resnet(18, 0.25)
    quantize_model(plain, QuantSpec(list(BITS)))
    plain.load_state_dict(bb.body.state_dict())
    plain.eval()
    for b, feats in ((8, f8), (4, f4)):
        set_precision(plain, b)
        with torch.no_grad():
            y = plain.maxpool(plain.relu(plain.bn1(plain.conv1(x))))
            y1 = plain.layer1(y)
            y2 = plain.layer2(y1)
            outs = (y2, plain.layer3(y2), plain.layer4(plain.layer3(y2)))
        for a, ref in zip(feats, outs, strict=True):
            torch.testing.assert_close(a, ref, rtol=0, atol=0)

    # per-layer list: all-8 equals uniform 8, a mixed list differs from both
    n = bb.num_quant_layers
    with torch.no_grad():
        bb.set_bits([8] * n)
        torch.testing.assert_close(bb(x)[-1], f8[-1], rtol=0, atol=0)
        bb.set_bits([8] * (n // 2) + [4] * (n - n // 2))
        mixed = bb(x)[-1]
    assert (mixed - f8[-1]).abs().max() > 1e-3 and (mixed - f4[-1]).abs().max() > 1e-3
    assert isinstance(bb.body.conv1, torch.nn.Conv2d) and not hasattr(bb.body.conv1, "wq")

    with pytest.raises(ValueError, match="not in the trained bit list"):
        bb.set_bits(6)
    with pytest.raises(ValueError, match="layer_bits has"):
        bb.set_bits([8, 4])
    with pytest.raises(ValueError, match="out_indices"):
        QuantResNet(depth=18, width=0.25, bits=BITS, out_indices=(4,))
    with pytest.raises(ValueError, match="depth"):
        QuantResNet(depth=19, bits=BITS)


def test_synthetic_writers_reject_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_images"):
        write_synthetic_coco(tmp_path, n_images=0)
    with pytest.raises(ValueError, match="size"):
        write_synthetic_seg(tmp_path, size=8)


@pytest.fixture(scope="module")
def trained_retinanet(tmp_path_factory):
    """RetinaNet + quantized backbone trained a few steps (Algorithm A.2: one optimizer step per
    precision pass) on one batch of the synthetic COCO set; returns model, config, loss log."""
    from mmdet.registry import MODELS

    root = tmp_path_factory.mktemp("coco")
    write_synthetic_coco(root, n_images=8, size=64, seed=0)
    cfg = _load_cfg("retinanet_r18_tiny_synthetic.py", root)
    dataset, loader = _loader(cfg, "mmdet")
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    batch = next(iter(loader))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    log: dict[int, list[float]] = {b: [] for b in BITS}
    model.train()
    for _ in range(5):
        for b in BITS:
            model.backbone.set_bits(b)
            data = model.data_preprocessor(batch, True)
            loss = _total(model.loss(data["inputs"], data["data_samples"]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            log[b].append(loss.item())
    return model, cfg, dataset, loader, log


def test_retinanet_trains_at_two_bit_widths(trained_retinanet) -> None:
    model, _, _, _, log = trained_retinanet
    for b in BITS:
        assert all(math.isfinite(v) and v > 0 for v in log[b]), log
        assert log[b][-1] < log[b][0], f"{b}-bit loss did not decrease: {log[b]}"
    assert log[8] != log[4]
    # every quantized backbone layer got scale gradients at the last (4-bit) pass
    wq = [m.wq.scale for m in model.backbone.modules() if hasattr(m, "wq")]
    assert wq and all(s.grad is not None and torch.isfinite(s.grad) for s in wq)


def test_coco_metric_evaluates_bbox_map(trained_retinanet) -> None:
    from mmdet.evaluation import CocoMetric

    model, cfg, dataset, loader, _ = trained_retinanet
    model.eval()
    results = {}
    for b in BITS:
        model.backbone.set_bits(b)
        metric = CocoMetric(ann_file=cfg.val_evaluator.ann_file, metric="bbox")
        metric.dataset_meta = dataset.metainfo
        with torch.no_grad():
            for batch in loader:
                outputs = model.test_step(batch)
                metric.process(batch, [o.to_dict() for o in outputs])
        results[b] = metric.evaluate(len(dataset))
    for b in BITS:
        assert 0.0 <= results[b]["coco/bbox_mAP"] <= 1.0, results
        assert -1 not in (results[b]["coco/bbox_mAP"],)


def test_semantic_fpn_loss_and_prediction_shape(tmp_path: Path) -> None:
    from mmseg.registry import MODELS

    write_synthetic_seg(tmp_path, n_images=4, size=64, seed=1)
    cfg = _load_cfg("fpn_r18_tiny_synthetic.py", tmp_path)
    dataset, loader = _loader(cfg, "mmseg")
    assert len(dataset) == 4
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    batch = next(iter(loader))
    model.train()
    for b in BITS:
        model.backbone.set_bits(b)
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data["inputs"], data["data_samples"])
        loss = _total(losses)
        assert torch.isfinite(loss) and loss > 0
        loss.backward()
    assert model.backbone.body.layer4[0].conv1.wq.scale.grad is not None
    model.eval()
    model.backbone.set_bits(4)
    with torch.no_grad():
        preds = model.test_step(batch)
    assert len(preds) == 4
    for p in preds:
        seg = p.pred_sem_seg.data
        assert seg.shape == (1, 64, 64) and 0 <= int(seg.min()) and int(seg.max()) < 4


def test_paper_configs_parse_with_matching_channels() -> None:
    from mmengine.config import Config

    for name, depth_channels in (("retinanet_r18_coco_paper.py", [64, 128, 256, 512]),
                                 ("fpn_r18_ade20k_paper.py", [64, 128, 256, 512])):
        cfg = Config.fromfile(str(CONFIGS / name))
        bb = cfg.model.backbone
        assert bb.type == "DRQuantResNet" and bb.bits == [8, 6, 4, 2] and "num_stages" not in bb
        assert cfg.model.neck.in_channels == depth_channels
        assert cfg.custom_hooks[0].type == "DRBitSwitchHook"
        assert "resnet18" in bb.pretrained


def test_tiny_config_runs_in_mmengine_runner_with_bit_switch_hook(tmp_path: Path) -> None:
    """The tiny config end to end: Runner training (hook cycles 8/4 bits) and CocoMetric val."""
    from mmengine.runner import Runner

    # 16 images = 4 iterations in one epoch (mmengine sleeps 2 s at every epoch end of the
    # infinite iterator)
    write_synthetic_coco(tmp_path / "coco", n_images=16, size=64, seed=2)
    cfg = _load_cfg("retinanet_r18_tiny_synthetic.py", tmp_path / "coco")
    cfg.work_dir = str(tmp_path / "work")
    cfg.train_cfg = dict(type="IterBasedTrainLoop", max_iters=4, val_interval=4)
    cfg.default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=100))
    cfg.log_level = "WARNING"
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if type(h).__name__ == "DRBitSwitchHook")
    assert hook.history == [8, 4, 8, 4]
    assert runner.model.backbone.active_bits == 8  # validation ran at eval_bits
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics["coco/bbox_mAP"] <= 1.0
