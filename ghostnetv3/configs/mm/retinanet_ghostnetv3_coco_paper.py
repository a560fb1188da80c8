# RetinaNet + FPN on COCO 2017 with a GhostNetV3 1.0x backbone (mmdet 3.x, 1x schedule): the
# detection transfer setting. Self-contained (no `mmdet::` base: that needs pkg_resources).
# Backbone weights: a classifier checkpoint trained here or the official ghostnetv3-1.0.pth.tar
# (state_dict / state_dict_ema). Launch with mmdet's train tool (tools/train.py or
# dist_train.sh) on this file. For deployment call model.backbone.reparameterize() in eval mode.
custom_imports = dict(imports=["ghostnetv3.mm_backbone"], allow_failed_imports=False)
default_scope = "mmdet"
width = 1.0
data_root = "data/coco/"

model = dict(
    type="RetinaNet",
    data_preprocessor=dict(type="DetDataPreprocessor", mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type="GhostNetV3", width=width, reparam=True, out_indices=(4, 6, 9),
                  frozen_stages=-1, norm_eval=False,
                  checkpoint="/data/ghostnetv3/ghostnetv3-1.0.pth.tar"),
    # neck_in_channels(1.0) = [40, 112, 960]
    neck=dict(type="FPN", in_channels=[40, 112, 960], out_channels=256, start_level=0,
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
    dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(1333, 800), keep_ratio=True),
    dict(type="RandomFlip", prob=0.5), dict(type="PackDetInputs")]
test_pipeline = [
    dict(type="LoadImageFromFile"), dict(type="Resize", scale=(1333, 800), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="PackDetInputs",
         meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor"))]
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
                     metric="bbox")
test_evaluator = val_evaluator

train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=12, val_interval=1)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)]
optim_wrapper = dict(type="OptimWrapper",
                     optimizer=dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=4e-5))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(timer=dict(type="IterTimerHook"), logger=dict(type="LoggerHook", interval=50),
                     param_scheduler=dict(type="ParamSchedulerHook"),
                     checkpoint=dict(type="CheckpointHook", interval=1),
                     sampler_seed=dict(type="DistSamplerSeedHook"),
                     visualization=dict(type="DetVisualizationHook"))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
               dist_cfg=dict(backend="nccl"))
log_processor = dict(type="LogProcessor", window_size=50, by_epoch=True)
log_level = "INFO"
load_from = None
resume = False
