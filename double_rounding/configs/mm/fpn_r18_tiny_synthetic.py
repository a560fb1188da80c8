# Tiny Semantic-FPN segmentor with the bit-switchable quantized ResNet-18 (width 0.25) on the
# synthetic label-map set written by `python -m double_rounding.mm_data runs/mm_data`.
custom_imports = dict(imports=["double_rounding.mm_backbone"], allow_failed_imports=False)
default_scope = "mmseg"
data_root = "runs/mm_data/seg/"
classes = ("background", "red", "green", "blue")
bits = [8, 4]
norm_cfg = dict(type="BN", requires_grad=True)

model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size=(64, 64)),
    backbone=dict(type="DRQuantResNet", depth=18, width=0.25, bits=bits, active_bits=8,
                  out_indices=(0, 1, 2, 3)),
    neck=dict(type="FPN", in_channels=[16, 32, 64, 128], out_channels=32, num_outs=4),
    decode_head=dict(type="FPNHead", in_channels=[32, 32, 32, 32], in_index=[0, 1, 2, 3],
                     feature_strides=[4, 8, 16, 32], channels=16, dropout_ratio=0.0,
                     num_classes=len(classes), norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False,
                                      loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)

pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", reduce_zero_label=False),
    dict(type="PackSegInputs"),
]
dataset = dict(type="BaseSegDataset", data_root=data_root, metainfo=dict(classes=classes),
               data_prefix=dict(img_path="img_dir", seg_map_path="ann_dir"),
               img_suffix=".png", seg_map_suffix=".png", pipeline=pipeline)
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type="InfiniteSampler", shuffle=True),
                        dataset=dataset)
val_dataloader = dict(batch_size=4, num_workers=0,
                      sampler=dict(type="DefaultSampler", shuffle=False), dataset=dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type="AdamW", lr=1e-3, weight_decay=5e-5),
                     paramwise_cfg=dict(custom_keys={".wq.": dict(decay_mult=0.0),
                                                     ".aq.": dict(decay_mult=0.0)}))
train_cfg = dict(type="IterBasedTrainLoop", max_iters=8, val_interval=8)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
custom_hooks = [dict(type="DRBitSwitchHook", bits=bits, eval_bits=8)]
