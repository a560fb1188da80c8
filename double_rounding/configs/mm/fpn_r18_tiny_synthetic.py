# Tiny Semantic-FPN segmentor with the bit-switchable quantized ResNet-18 (width 0.25) on the
# synthetic label-map set written by `python -m double_rounding.mm_data runs/mm_data`.
# Inherits the paper config; only what the tiny CPU run changes is written here.
_base_ = ["./fpn_r18_ade20k_paper.py"]
data_root = "runs/mm_data/seg/"
classes = ("background", "red", "green", "blue")
bits = [8, 4]
norm_cfg = dict(type="BN", requires_grad=True)

model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(_delete_=True, type="DRQuantResNet", depth=18, width=0.25, bits=bits,
                  active_bits=8, out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=16, dropout_ratio=0.0,
                     num_classes=len(classes), norm_cfg=norm_cfg),
)

# One pipeline for train and test (the base's pipelines resize to 2048x512 and crop 512 px).
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", reduce_zero_label=False),
    dict(type="PackSegInputs"),
]
train_pipeline = test_pipeline
dataset = dict(type="BaseSegDataset", data_root=data_root, metainfo=dict(classes=classes),
               data_prefix=dict(img_path="img_dir", seg_map_path="ann_dir"),
               img_suffix=".png", seg_map_suffix=".png", pipeline=test_pipeline)
train_dataloader = dict(_delete_=True, batch_size=4, num_workers=0,
                        sampler=dict(type="InfiniteSampler", shuffle=True), dataset=dataset)
val_dataloader = dict(_delete_=True, batch_size=4, num_workers=0,
                      sampler=dict(type="DefaultSampler", shuffle=False), dataset=dataset)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(_delete_=True, type="AdamW", lr=1e-3, weight_decay=5e-5),
                     clip_grad=None)
param_scheduler = None
train_cfg = dict(max_iters=8, val_interval=8)
custom_hooks = [dict(type="DRBitSwitchHook", bits=bits, eval_bits=8)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=8))
