"""Data: `load_splits(cfg)` gives train / val / test sets for the embedded default and others.

* `fashion_mnist`: the Debian package `dataset-fashion-mnist` (IDX files, read with numpy),
  upsampled to `image_size` (default 64, so GhostNetV3's stride-32 map is 2x2). A fixed shuffle
  of the 60k training file (data.split_seed) gives `train_limit` training and `val_size`
  validation images, disjoint; the test set is the 10k test file. Held in memory as tensors.
* `imagefolder`: torchvision ImageFolder layout (`root/train/<class>/*`, `root/val/<class>/*`)
  for paper scale; validation doubles as test, as on ImageNet.
* `synthetic`: class-dependent random patterns for tests and CI.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from ghostnetv3.config import DataConfig

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics


class DataError(ValueError):
    """A data file is missing or malformed; the message names it and the way out."""


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    in_memory: bool  # tensors: augmentation runs on batches in the training loop


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped), checked against the sizes its header declares."""
    if not path.is_file():
        raise DataError(f"{path} does not exist; install the Debian package dataset-fashion-mnist "
                        f"(`make setup-system`) or set data.root to a folder with the IDX files")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path} is not a readable gzip file ({err}); it is truncated or "
                        f"corrupt: reinstall dataset-fashion-mnist or point data.root elsewhere"
                        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise DataError(f"{path}: bad IDX header (expected magic 0x00 0x00 0x08 <ndim>)")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path}: header declares shape {dims} ({expected} bytes) but the file "
                        f"holds {len(raw)} bytes (truncated?); reinstall dataset-fashion-mnist")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _images(raw: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(raw.astype(np.float32) / 255.0).unsqueeze(1)
    if size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x - MEAN) / STD


def fashion_mnist(cfg: DataConfig) -> Splits:
    root = Path(cfg.root) if cfg.root else FASHION_MNIST
    x_all, y_all = (read_idx(root / f) for f in FILES["train"])
    if len(x_all) != len(y_all):
        raise DataError(f"{root}: {len(x_all)} training images but {len(y_all)} labels")
    order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(cfg.split_seed))
    n_train = min(cfg.train_limit or len(x_all) - cfg.val_size, len(x_all) - cfg.val_size)
    val_idx, train_idx = order[: cfg.val_size], order[cfg.val_size: cfg.val_size + n_train]
    x_test, y_test = (read_idx(root / f) for f in FILES["test"])
    if cfg.test_limit:
        x_test, y_test = x_test[: cfg.test_limit], y_test[: cfg.test_limit]
    labels = torch.from_numpy(y_all.astype(np.int64))
    return Splits(
        train=TensorDataset(_images(x_all[train_idx.numpy()], cfg.image_size), labels[train_idx]),
        val=TensorDataset(_images(x_all[val_idx.numpy()], cfg.image_size), labels[val_idx]),
        test=TensorDataset(_images(x_test, cfg.image_size),
                           torch.from_numpy(y_test.astype(np.int64))),
        num_classes=10, in_memory=True)


def synthetic(cfg: DataConfig, num_classes: int = 4, in_chans: int = 1) -> Splits:
    """Each class is a fixed random low-frequency pattern plus noise: learnable in a few steps."""
    g = torch.Generator().manual_seed(cfg.split_seed)
    protos = F.interpolate(torch.randn(num_classes, in_chans, 4, 4, generator=g),
                           size=(cfg.image_size, cfg.image_size), mode="bilinear")

    def make(n: int) -> TensorDataset:
        y = torch.randint(num_classes, (n,), generator=g)
        return TensorDataset(protos[y] + 0.8 * torch.randn(n, in_chans, cfg.image_size,
                                                           cfg.image_size, generator=g), y)

    n_train = cfg.train_limit or 64
    return Splits(make(n_train), make(cfg.val_size), make(cfg.test_limit or cfg.val_size),
                  num_classes, in_memory=True)


def image_folder(cfg: DataConfig) -> Splits:
    from torchvision import datasets, transforms

    root = Path(cfg.root)
    normalize = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(cfg.image_size, scale=(0.08, 1.0)),
        transforms.RandomHorizontalFlip(), transforms.ColorJitter(0.4, 0.4, 0.4),
        transforms.ToTensor(), normalize])
    eval_tf = transforms.Compose([transforms.Resize(int(cfg.image_size / 0.875)),
                                  transforms.CenterCrop(cfg.image_size), transforms.ToTensor(),
                                  normalize])
    sets = {}
    for split, tf in (("train", train_tf), ("val", eval_tf)):
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"{folder} does not exist; data.root must hold train/ and val/ "
                            f"ImageFolder directories")
        if not any(p.is_dir() for p in folder.iterdir()):
            raise DataError(f"{folder} has no class folders (expected {folder}/<class>/<image>)")
        sets[split] = datasets.ImageFolder(str(folder), tf)
    if sets["train"].classes != sets["val"].classes:
        raise DataError(f"{root}: train/ and val/ have different class folders")
    return Splits(sets["train"], sets["val"], sets["val"], len(sets["train"].classes),
                  in_memory=False)


def load_splits(cfg: DataConfig, in_chans: int = 1) -> Splits:
    if cfg.name == "fashion_mnist":
        return fashion_mnist(cfg)
    if cfg.name == "synthetic":
        return synthetic(cfg, in_chans=in_chans)
    if cfg.name == "imagefolder":
        return image_folder(cfg)
    raise DataError(f"data.name {cfg.name!r} is unknown")


def augment(x: torch.Tensor, padding: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop (padded with the background value) and horizontal flip of a batch, seeded."""
    b, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, [padding] * 4, value=float(x.min()))
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
        x = torch.stack([padded[i, :, dy[i]: dy[i] + h, dx[i]: dx[i] + w] for i in range(b)])
    if hflip:
        flip = torch.rand(b, generator=generator) < 0.5
        x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
    return x
