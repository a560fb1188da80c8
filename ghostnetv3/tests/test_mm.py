"""GhostNetV3 as an mmdet backbone: RetinaNet forward + loss on a tiny synthetic COCO-format set,
fusion equivalence of the detector's outputs. Needs mmdet (`make setup-mm`)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

MISSING = [m for m in ("mmcv", "mmengine", "mmdet") if importlib.util.find_spec(m) is None]
if MISSING:
    pytest.skip(f"{', '.join(MISSING)} not importable; run `make setup-mm`", allow_module_level=True)

from ghostnetv3.mm_backbone import (  # noqa: E402
    GhostNetV3Backbone,
    neck_in_channels,
    register_mm_modules,
)
from ghostnetv3.reparam import randomize_bn  # noqa: E402

CLASSES = ("red", "green", "blue")
PAPER_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mm" / "retinanet_ghostnetv3_coco_paper.py"


def write_synthetic_coco(root, n_images=4, size=64):
    """Images with one coloured rectangle each and a COCO instances.json describing them."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    for i in range(n_images):
        img = np.zeros((size, size, 3), dtype=np.uint8)
        c = i % 3
        x0, y0 = (int(v) for v in rng.integers(4, size // 2, 2))
        w, h = (int(v) for v in rng.integers(12, size // 2, 2))
        img[y0:y0 + h, x0:x0 + w, c] = 255
        Image.fromarray(img).save(root / "images" / f"{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "width": size, "height": size})
        annotations.append({"id": i, "image_id": i, "category_id": c, "bbox": [x0, y0, w, h],
                            "area": w * h, "iscrowd": 0})
    categories = [{"id": i, "name": n} for i, n in enumerate(CLASSES)]
    (root / "annotations").mkdir()
    (root / "annotations" / "instances.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories}))


def retinanet(width: float):
    """The paper config's RetinaNet, shrunk for a CPU test (width, FPN/head widths, levels)."""
    from mmengine.config import Config

    model = Config.fromfile(str(PAPER_CONFIG)).model
    model.data_preprocessor.update(mean=[0.0] * 3, std=[255.0] * 3, bgr_to_rgb=False)
    model.backbone.update(width=width, checkpoint=None)
    model.neck.update(in_channels=neck_in_channels(width), out_channels=32, num_outs=3)
    model.bbox_head.update(num_classes=len(CLASSES), in_channels=32, stacked_convs=1,
                           feat_channels=32)
    model.bbox_head.anchor_generator.update(scales_per_octave=1, ratios=[1.0],
                                            strides=[8, 16, 32])
    model.test_cfg.update(nms_pre=100, score_thr=0.0, max_per_img=10)
    return model


def batch_from_coco(root):
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, init_default_scope

    init_default_scope("mmdet")
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True),
                dict(type="Resize", scale=(96, 96), keep_ratio=True),
                dict(type="PackDetInputs")]
    dataset = DATASETS.build(dict(type="CocoDataset", data_root=str(root) + "/",
                                  metainfo=dict(classes=CLASSES),
                                  ann_file="annotations/instances.json",
                                  data_prefix=dict(img="images/"), pipeline=pipeline))
    return pseudo_collate([dataset[i] for i in range(len(dataset))])


def test_backbone_feature_strides_and_channels():
    bb = GhostNetV3Backbone(width=0.5).eval()
    feats = bb(torch.randn(1, 3, 96, 128))
    assert [f.shape[1] for f in feats] == bb.out_channels == neck_in_channels(0.5)
    assert [tuple(f.shape[-2:]) for f in feats] == [(12, 16), (6, 8), (3, 4)]


def test_retinanet_loss_and_fused_predictions(tmp_path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    assert register_mm_modules()
    write_synthetic_coco(tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(retinanet(0.5))
    data = model.data_preprocessor(batch_from_coco(tmp_path), True)
    model.train()
    losses = model.loss(data["inputs"], data["data_samples"])
    total = sum(sum(v) if isinstance(v, list) else v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.backbone.stem.conv.weight.grad.abs().sum() > 0
    # eval: fusing the backbone's branches leaves the detector's raw outputs unchanged
    model.eval()
    randomize_bn(model.backbone, torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model._forward(data["inputs"])
        model.backbone.reparameterize()
        after = model._forward(data["inputs"])
    for a, b in zip(sum(map(list, after), []), sum(map(list, before), []), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_paper_config_matches_backbone_width():
    from mmengine.config import Config

    cfg = Config.fromfile(str(PAPER_CONFIG))
    assert cfg.model.backbone.type == "GhostNetV3"
    assert cfg.model.neck.in_channels == neck_in_channels(cfg.model.backbone.width)
    assert cfg.train_dataloader.dataset.type == "CocoDataset"
