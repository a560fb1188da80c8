# Tiny RetinaNet with the bit-switchable quantized ResNet-18 (width 0.25) on the synthetic COCO set
# written by `python -m double_rounding.mm_data runs/mm_data`. Used by tests/test_mm.py.
custom_imports = dict(imports=["double_rounding.mm_backbone"], allow_failed_imports=False)
default_scope = "mmdet"
data_root = "runs/mm_data/coco/"
classes = ("red", "green", "blue")
bits = [8, 4]

model = dict(
    type="RetinaNet",
    data_preprocessor=dict(type="DetDataPreprocessor", mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type="DRQuantResNet", depth=18, width=0.25, bits=bits, active_bits=8,
                  out_indices=(1, 2, 3)),
    neck=dict(type="FPN", in_channels=[32, 64, 128], out_channels=32, start_level=0,
              add_extra_convs="on_input", num_outs=3),
    bbox_head=dict(
        type="RetinaHead", num_classes=len(classes), in_channels=32, stacked_convs=1,
        feat_channels=32,
        anchor_generator=dict(type="AnchorGenerator", octave_base_scale=3, scales_per_octave=2,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32]),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4,
                        target_stds=[1.0] * 4),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4,
                                 min_pos_iou=0, ignore_iof_thr=-1),
                   sampler=dict(type="PseudoSampler"), allowed_border=-1, pos_weight=-1,
                   debug=False),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0,
                  nms=dict(type="nms", iou_threshold=0.5), max_per_img=20),
)

pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(64, 64), keep_ratio=True),
    dict(type="PackDetInputs",
         meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
dataset = dict(type="CocoDataset", data_root=data_root, metainfo=dict(classes=classes),
               ann_file="annotations/instances.json", data_prefix=dict(img="images/"),
               filter_cfg=dict(filter_empty_gt=False), pipeline=pipeline)
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type="DefaultSampler", shuffle=True),
                        dataset=dataset)
val_dataloader = dict(batch_size=4, num_workers=0,
                      sampler=dict(type="DefaultSampler", shuffle=False), dataset=dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type="CocoMetric", ann_file=data_root + "annotations/instances.json",
                     metric="bbox", format_only=False)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type="AdamW", lr=1e-3, weight_decay=5e-5),
                     paramwise_cfg=dict(custom_keys={".wq.": dict(decay_mult=0.0),
                                                     ".aq.": dict(decay_mult=0.0)}))
train_cfg = dict(type="IterBasedTrainLoop", max_iters=8, val_interval=8)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
custom_hooks = [dict(type="DRBitSwitchHook", bits=bits, eval_bits=8)]
default_hooks = dict(logger=dict(type="LoggerHook", interval=1),
                     checkpoint=dict(type="CheckpointHook", interval=8))
