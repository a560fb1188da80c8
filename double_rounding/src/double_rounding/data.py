"""`load_dataset(spec)`: Fashion-MNIST (embedded default), synthetic images, CIFAR-10, ImageFolder.

Fashion-MNIST comes from the Debian package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist) or from a torchvision-style root (<root>/FashionMNIST/raw),
gzipped or not. Images are zero-padded from 28x28 to 32x32 for ResNet-20.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion_mnist", "synthetic", "cifar10", "imagefolder")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


IDX_RECOVERY = ("re-install the data (apt-get install --reinstall dataset-fashion-mnist) or "
                "point data.root at a complete copy")


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally .gz): magic, dims, then unsigned bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError) as err:  # truncated / corrupted gzip stream
        raise ValueError(f"{path}: cannot be read ({err}); {IDX_RECOVERY}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic {raw[:4]!r}, "
                         f"expected 00 00 08 <ndim>); {IDX_RECOVERY}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: header of {ndim} dimensions is cut off after {len(raw)} "
                         f"bytes; {IDX_RECOVERY}")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} ({int(np.prod(dims))} bytes) but holds "
                         f"{data.size} bytes (truncated?); {IDX_RECOVERY}")
    return data.reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for folder in (root, root / "FashionMNIST" / "raw", root / "raw"):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"data.root {root}: no {stem}[.gz] found (expected the Debian package "
        f"dataset-fashion-mnist at {DEBIAN_FASHION_MNIST} or a torchvision-style "
        f"<root>/FashionMNIST/raw folder)")


def fashion_mnist(root: str | Path | None, split: str, limit: int | None = None,
                  pad_to: int = 32) -> TensorDataset:
    root = Path(root) if root else DEBIAN_FASHION_MNIST
    images = read_idx(_find(root, FILES[split][0]))
    labels = read_idx(_find(root, FILES[split][1]))
    if limit:
        images, labels = _stratified(images, labels, limit)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - 0.2860) / 0.3530  # Fashion-MNIST train mean / std
    pad = (pad_to - x.shape[-1]) // 2
    if pad > 0:  # pad with the normalised background value, not with 0
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=(0 - 0.2860) / 0.3530)
    return TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))


def _stratified(images: np.ndarray, labels: np.ndarray, limit: int) -> tuple[np.ndarray, ...]:
    """First `limit` items with classes interleaved, deterministic (no RNG needed)."""
    classes = np.unique(labels)
    per_class = [np.flatnonzero(labels == c) for c in classes]
    order = np.stack([idx[: limit // len(classes) + 1] for idx in per_class], 1).reshape(-1)
    order = order[:limit]
    return images[order], labels[order]


def synthetic(n: int, num_classes: int = 10, channels: int = 1, size: int = 32,
              seed: int = 0, split: str = "train") -> TensorDataset:
    """Learnable toy images: each class is a fixed random pattern (shared by the splits) plus
    noise drawn per split."""
    prototypes = torch.randn(num_classes, channels, size, size,
                             generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1 + (split == "test"))
    labels = torch.arange(n) % num_classes
    x = prototypes[labels] + 2.0 * torch.randn(n, channels, size, size, generator=g)
    return TensorDataset(x, labels)


def load_dataset(name: str, split: str, root: str | None = None, limit: int | None = None,
                 seed: int = 0, image_size: int = 32) -> Dataset:
    """One entry point for every dataset; validates the spec before reading anything."""
    if name not in DATASETS:
        raise ValueError(f"data.name {name!r} is unknown; expected one of {DATASETS}")
    if split not in FILES:
        raise ValueError(f"data split {split!r} is unknown; expected 'train' or 'test'")
    if name == "fashion_mnist":
        return fashion_mnist(root, split, limit, pad_to=image_size)
    if name == "synthetic":
        return synthetic(limit or 256, size=image_size, seed=seed, split=split)
    from torchvision import datasets, transforms

    if not root or not Path(root).is_dir():
        raise FileNotFoundError(f"data.root must be an existing folder for {name}, got {root!r}")
    norm = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    if name == "cifar10":
        aug = [transforms.RandomCrop(32, 4), transforms.RandomHorizontalFlip()]
        tf = transforms.Compose(([*aug] if split == "train" else []) + [transforms.ToTensor(), norm])
        return datasets.CIFAR10(root, train=split == "train", transform=tf, download=False)
    # ImageNet as in the paper: random-resized-crop + flip for training, resize 256 / crop 224
    if split == "train":
        tf = transforms.Compose([transforms.RandomResizedCrop(image_size),
                                 transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])
    else:
        tf = transforms.Compose([transforms.Resize(int(image_size * 256 / 224)),
                                 transforms.CenterCrop(image_size), transforms.ToTensor(), norm])
    return datasets.ImageFolder(str(Path(root) / ("train" if split == "train" else "val")), tf)
