# Paper scale (NOT run here): Semantic FPN with the bit-switchable quantized ResNet-18
# ({8,6,4,2}, int8 storage, double rounding, per-bit BN, stem conv in float) on ADE20K 512x512.
# Everything else is mmseg 1.2.2's fpn_r50_4xb4-160k_ade20k-512x512.py written out
# (self-contained): SGD lr 0.01, momentum 0.9, wd 5e-4 (0 on the quantization scales), poly LR,
# 160k iterations, 4 GPUs x 4 images, SyncBN in the head. Our backbone uses per-bit BN (plain
# BatchNorm2d copies; wrap with torch.nn.SyncBatchNorm.convert_sync_batchnorm for multi-GPU).
#   torchrun --nproc_per_node=4 -m double_rounding.mm_train configs/mm/fpn_r18_ade20k_paper.py \
#       --launcher pytorch
custom_imports = dict(imports=["double_rounding.mm_backbone"], allow_failed_imports=False)
default_scope = "mmseg"
data_root = "data/ade/ADEChallengeData2016"
bits = [8, 6, 4, 2]
pretrained = "data/pretrained/resnet18-f37072fd.pth"
crop_size = (512, 512)
norm_cfg = dict(type="SyncBN", requires_grad=True)

model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size=crop_size),
    backbone=dict(type="DRQuantResNet", depth=18, bits=bits, active_bits=8,
                  out_indices=(0, 1, 2, 3), norm_eval=False, pretrained=pretrained),
    neck=dict(type="FPN", in_channels=[64, 128, 256, 512], out_channels=256, num_outs=4),
    decode_head=dict(type="FPNHead", in_channels=[256, 256, 256, 256], in_index=[0, 1, 2, 3],
                     feature_strides=[4, 8, 16, 32], channels=128, dropout_ratio=0.1,
                     num_classes=150, norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False,
                                      loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"))

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", reduce_zero_label=True),
    dict(type="RandomResize", scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=(2048, 512), keep_ratio=True),
    dict(type="LoadAnnotations", reduce_zero_label=True),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(type="ADE20KDataset", data_root=data_root,
                 data_prefix=dict(img_path="images/training",
                                  seg_map_path="annotations/training"),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type="ADE20KDataset", data_root=data_root,
                 data_prefix=dict(img_path="images/validation",
                                  seg_map_path="annotations/validation"),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator

optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005), clip_grad=None,
    paramwise_cfg=dict(custom_keys={".wq.": dict(decay_mult=0.0), ".aq.": dict(decay_mult=0.0)}))
param_scheduler = [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=160000,
                        by_epoch=False)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=160000, val_interval=16000)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
custom_hooks = [dict(type="DRBitSwitchHook", bits=bits, eval_bits=8)]
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=16000),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"))
env_cfg = dict(cudnn_benchmark=True, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
               dist_cfg=dict(backend="nccl"))
vis_backends = [dict(type="LocalVisBackend")]
visualizer = dict(type="SegLocalVisualizer", vis_backends=vis_backends, name="visualizer")
log_processor = dict(by_epoch=False)
log_level = "INFO"
load_from = None
resume = False
