"""The mm extra recipe (CONTRIBUTING.md, `make setup-mm`) gives working mmcv ops, mmdet and mmseg:
a tiny RetinaNet computes a loss and a prediction on CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT

WHEELS = Path(os.environ.get("MMCV_WHEELS", ROOT.parent / "shared" / "wheels"))
HAVE_WHEEL = any(WHEELS.glob("mmcv-2.1.0-cp311-*.whl"))

if not HAVE_WHEEL:
    # Without the wheel, setup-mm builds from source (10-20 min) and CI never does that.
    pytest.skip(f"no mmcv 2.1.0 wheel in {WHEELS}; run `make setup-mm` first", allow_module_level=True)


def tiny_retinanet_config(num_classes: int = 3) -> dict:
    return dict(
        type="RetinaNet",
        data_preprocessor=dict(type="DetDataPreprocessor", mean=[0.0] * 3, std=[1.0] * 3,
                               bgr_to_rgb=False, pad_size_divisor=32),
        backbone=dict(type="ResNet", depth=18, num_stages=4, out_indices=(1, 2, 3),
                      frozen_stages=-1, norm_cfg=dict(type="BN", requires_grad=True),
                      norm_eval=False, style="pytorch"),
        neck=dict(type="FPN", in_channels=[128, 256, 512], out_channels=32, start_level=0,
                  add_extra_convs="on_input", num_outs=3),
        bbox_head=dict(
            type="RetinaHead", num_classes=num_classes, in_channels=32, stacked_convs=1,
            feat_channels=32,
            anchor_generator=dict(type="AnchorGenerator", octave_base_scale=4,
                                  scales_per_octave=1, ratios=[1.0], strides=[8, 16, 32]),
            bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4,
                            target_stds=[1.0] * 4),
            loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0),
            loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4,
                                     min_pos_iou=0, ignore_iof_thr=-1),
                       sampler=dict(type="PseudoSampler"), allowed_border=-1, pos_weight=-1,
                       debug=False),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0,
                      nms=dict(type="nms", iou_threshold=0.5), max_per_img=10),
    )


def test_mmcv_ops_mmdet_mmseg_import() -> None:
    import mmcv
    import mmcv.ops
    import mmdet
    import mmseg

    assert mmcv.__version__ == "2.1.0" and mmdet.__version__ == "3.3.0"
    assert mmseg.__version__ == "1.2.2"
    assert hasattr(mmcv.ops, "nms") and hasattr(mmcv.ops, "RoIAlign")


def test_compiled_nms_matches_expectation() -> None:
    import torch
    from mmcv.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_tiny_retinanet_loss_and_predict_on_cpu() -> None:
    import torch
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.config import ConfigDict
    from mmengine.structures import InstanceData

    register_all_modules()
    torch.manual_seed(0)
    # ConfigDict gives the attribute access the heads expect of train_cfg/test_cfg.
    model = MODELS.build(ConfigDict(tiny_retinanet_config()))
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                         pad_shape=(64, 64), scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[8.0, 8.0, 40.0, 40.0]]),
                                       labels=torch.tensor([1]))
    batch = model.data_preprocessor({"inputs": [torch.rand(3, 64, 64) * 255],
                                     "data_samples": [sample]}, training=True)

    model.train()
    losses = model.loss(batch["inputs"], batch["data_samples"])
    # RetinaHead returns one loss tensor per FPN level.
    total = sum(sum(v) if isinstance(v, list) else v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.backbone.conv1.weight.grad is not None

    model.eval()
    with torch.no_grad():
        (result,) = model.predict(batch["inputs"], batch["data_samples"])
    boxes = result.pred_instances.bboxes
    assert boxes.shape[1] == 4 and 0 < len(boxes) <= 10
    assert result.pred_instances.labels.max() < 3
