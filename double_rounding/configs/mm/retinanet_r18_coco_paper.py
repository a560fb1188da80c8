# Paper scale (NOT run here): RetinaNet + FPN with the bit-switchable quantized ResNet-18
# ({8,6,4,2}, int8 storage, double rounding, per-bit BN, stem conv in float) on COCO 2017.
# Everything else is mmdet 3.3.0's retinanet_r18_fpn_1x_coco.py written out (self-contained: the
# `mmdet::` base-config scope needs pkg_resources): SGD lr 0.01, momentum 0.9, wd 1e-4 (0 on the
# quantization scales), 12 epochs, steps at 8 and 11, 500-iteration linear warm-up, 8 GPUs x 2.
#   torchrun --nproc_per_node=8 -m double_rounding.mm_train configs/mm/retinanet_r18_coco_paper.py \
#       --launcher pytorch
custom_imports = dict(imports=["double_rounding.mm_backbone"], allow_failed_imports=False)
default_scope = "mmdet"
data_root = "data/coco/"
bits = [8, 6, 4, 2]
# ImageNet FP32 torchvision weights (local file, nothing is downloaded), loaded before quantization.
pretrained = "data/pretrained/resnet18-f37072fd.pth"

model = dict(
    type="RetinaNet",
    data_preprocessor=dict(type="DetDataPreprocessor", mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type="DRQuantResNet", depth=18, bits=bits, active_bits=8,
                  out_indices=(0, 1, 2, 3), frozen_stages=1, norm_eval=True,
                  pretrained=pretrained),
    neck=dict(type="FPN", in_channels=[64, 128, 256, 512], out_channels=256, start_level=1,
              add_extra_convs="on_input", num_outs=5),
    bbox_head=dict(
        type="RetinaHead", num_classes=80, in_channels=256, stacked_convs=4, feat_channels=256,
        anchor_generator=dict(type="AnchorGenerator", octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4,
                        target_stds=[1.0] * 4),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4,
                                 min_pos_iou=0, ignore_iof_thr=-1),
                   sampler=dict(type="PseudoSampler"), allowed_border=-1, pos_weight=-1,
                   debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type="nms", iou_threshold=0.5), max_per_img=100))

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(1333, 800), keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=(1333, 800), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs",
         meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    batch_sampler=dict(type="AspectRatioBatchSampler"),
    dataset=dict(type="CocoDataset", data_root=data_root,
                 ann_file="annotations/instances_train2017.json",
                 data_prefix=dict(img="train2017/"),
                 filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type="CocoDataset", data_root=data_root,
                 ann_file="annotations/instances_val2017.json", data_prefix=dict(img="val2017/"),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type="CocoMetric", ann_file=data_root + "annotations/instances_val2017.json",
                     metric="bbox", format_only=False)
test_evaluator = val_evaluator

train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=12, val_interval=1)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(custom_keys={".wq.": dict(decay_mult=0.0), ".aq.": dict(decay_mult=0.0)}))
auto_scale_lr = dict(enable=False, base_batch_size=16)
# one bit-width per iteration, round robin; validation at 8 bits (test another bit-width with
# `--test --checkpoint ... --cfg-options custom_hooks.0.eval_bits=4`)
custom_hooks = [dict(type="DRBitSwitchHook", bits=bits, eval_bits=8)]

default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=1),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="DetVisualizationHook"))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
               dist_cfg=dict(backend="nccl"))
vis_backends = [dict(type="LocalVisBackend")]
visualizer = dict(type="DetLocalVisualizer", vis_backends=vis_backends, name="visualizer")
log_processor = dict(type="LogProcessor", window_size=50, by_epoch=True)
log_level = "INFO"
load_from = None
resume = False
