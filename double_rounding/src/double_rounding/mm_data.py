"""Tiny synthetic detection / segmentation sets in COCO and mmseg formats (tests, tiny configs).

Each image is a dark noisy background with 1-3 axis-aligned rectangles of one of three colours
(class = colour: red, green, blue). The detection set writes `images/*.png` and
`annotations/instances.json` (COCO instances format, bbox = [x, y, w, h]); the segmentation set
writes `img_dir/*.png` and `ann_dir/*.png` label maps (0 = background, 1-3 = rectangle colour).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CLASSES = ("red", "green", "blue")
COLOURS = ((220, 40, 40), (40, 200, 40), (40, 60, 230))


def _draw(rng: np.random.Generator, size: int, max_objects: int):
    img = rng.integers(0, 40, size=(size, size, 3), dtype=np.uint8)
    label = np.zeros((size, size), dtype=np.uint8)
    boxes = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(0, len(CLASSES)))
        w, h = (int(v) for v in rng.integers(size // 5, size // 2, size=2))
        x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
        img[y:y + h, x:x + w] = COLOURS[cls]
        label[y:y + h, x:x + w] = cls + 1
        boxes.append((cls, x, y, w, h))
    return img, label, boxes


def _save_png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(array).save(path)


def _prepare(root: str | Path, subdirs: tuple[str, str], n_images: int, size: int,
             max_objects: int) -> Path:
    """Validate the sizes before any file is written, then create the two output folders."""
    if n_images < 1 or size < 16 or max_objects < 1:
        raise ValueError(f"need n_images >= 1, size >= 16, max_objects >= 1; got {n_images}, "
                         f"{size}, {max_objects}")
    root = Path(root)
    for sub in subdirs:
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def write_synthetic_coco(root: str | Path, n_images: int = 8, size: int = 64, seed: int = 0,
                         max_objects: int = 3) -> Path:
    """Write the detection set under `root`; returns the annotation file path."""
    root = _prepare(root, ("images", "annotations"), n_images, size, max_objects)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(n_images):
        img, _, boxes = _draw(rng, size, max_objects)
        name = f"{i:05d}.png"
        _save_png(img, root / "images" / name)
        images.append(dict(id=i + 1, file_name=name, width=size, height=size))
        for cls, x, y, w, h in boxes:
            annotations.append(dict(id=len(annotations) + 1, image_id=i + 1, category_id=cls + 1,
                                    bbox=[x, y, w, h], area=w * h, iscrowd=0,
                                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)]
    ann = root / "annotations" / "instances.json"
    tmp = ann.with_suffix(".json.tmp")  # a reader never sees a half-written annotation file
    tmp.write_text(json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    tmp.replace(ann)
    return ann


def write_synthetic_seg(root: str | Path, n_images: int = 8, size: int = 64, seed: int = 0,
                        max_objects: int = 3) -> Path:
    """Write the segmentation set (`img_dir/`, `ann_dir/` label PNGs) under `root`; returns root."""
    root = _prepare(root, ("img_dir", "ann_dir"), n_images, size, max_objects)
    rng = np.random.default_rng(seed)
    for i in range(n_images):
        img, label, _ = _draw(rng, size, max_objects)
        _save_png(img, root / "img_dir" / f"{i:05d}.png")
        _save_png(label, root / "ann_dir" / f"{i:05d}.png")
    return root


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("root", help="output folder; writes <root>/coco and <root>/seg")
    ap.add_argument("--n-images", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(write_synthetic_coco(Path(a.root) / "coco", a.n_images, a.size, a.seed))
    print(write_synthetic_seg(Path(a.root) / "seg", a.n_images, a.size, a.seed))
