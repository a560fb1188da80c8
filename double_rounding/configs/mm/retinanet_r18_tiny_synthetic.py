# Tiny RetinaNet with the bit-switchable quantized ResNet-18 (width 0.25) on the synthetic COCO set
# written by `python -m double_rounding.mm_data runs/mm_data`. Used by tests/test_mm.py.
# Inherits the paper config; only what the tiny CPU run changes is written here.
_base_ = ["./retinanet_r18_coco_paper.py"]
data_root = "runs/mm_data/coco/"
classes = ("red", "green", "blue")
bits = [8, 4]

model = dict(
    backbone=dict(_delete_=True, type="DRQuantResNet", depth=18, width=0.25, bits=bits,
                  active_bits=8, out_indices=(1, 2, 3)),
    neck=dict(in_channels=[32, 64, 128], out_channels=32, start_level=0, num_outs=3),
    bbox_head=dict(num_classes=len(classes), in_channels=32, stacked_convs=1, feat_channels=32,
                   anchor_generator=dict(octave_base_scale=3, scales_per_octave=2,
                                         strides=[8, 16, 32])),
    test_cfg=dict(nms_pre=100, score_thr=0.0, max_per_img=20),
)

# One pipeline for train and test (the base's pipelines resize to 800-1333 px).
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(64, 64), keep_ratio=True),
    dict(type="PackDetInputs",
         meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
train_pipeline = test_pipeline
dataset = dict(type="CocoDataset", data_root=data_root, metainfo=dict(classes=classes),
               ann_file="annotations/instances.json", data_prefix=dict(img="images/"),
               filter_cfg=dict(filter_empty_gt=False), pipeline=test_pipeline)
train_dataloader = dict(_delete_=True, batch_size=4, num_workers=0,
                        sampler=dict(type="DefaultSampler", shuffle=True), dataset=dataset)
val_dataloader = dict(_delete_=True, batch_size=4, num_workers=0,
                      sampler=dict(type="DefaultSampler", shuffle=False), dataset=dataset)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + "annotations/instances.json")
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(_delete_=True, type="AdamW", lr=1e-3, weight_decay=5e-5))
param_scheduler = None
train_cfg = dict(_delete_=True, type="IterBasedTrainLoop", max_iters=8, val_interval=8)
custom_hooks = [dict(type="DRBitSwitchHook", bits=bits, eval_bits=8)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=8))
log_processor = dict(by_epoch=False)
