"""Data loaders: IDX parsing, torchvision-style root, errors; real Fashion-MNIST when installed."""

import gzip
import struct

import numpy as np
import pytest
import torch

from double_rounding.data import DEBIAN_FASHION_MNIST, load_dataset, read_idx


def write_idx(path, array, compress=True):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                    *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(raw)


def make_root(tmp_path, n=30, compress=True):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ext = ".gz" if compress else ""
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte{ext}", rng.integers(0, 256, (n, 28, 28)),
                  compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{ext}", np.arange(n) % 10, compress)
    return tmp_path


@pytest.mark.parametrize("compress", [True, False])
def test_torchvision_style_root(tmp_path, compress):
    root = make_root(tmp_path, compress=compress)
    ds = load_dataset("fashion_mnist", "train", str(root), limit=20)
    x, y = ds.tensors
    assert x.shape == (20, 1, 32, 32)
    assert torch.bincount(y).tolist() == [2] * 10  # stratified subset
    # zero padding is the normalised background, the border therefore equals 0 in pixel space
    assert torch.allclose(x[:, :, 0, :] * 0.3530 + 0.2860, torch.zeros(20, 32), atol=1e-6)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="data.name"):
        load_dataset("mnist3d", "train")
    with pytest.raises(FileNotFoundError, match="FashionMNIST/raw"):
        load_dataset("fashion_mnist", "train", str(tmp_path))
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(bad)
    with pytest.raises(FileNotFoundError, match="data.root"):
        load_dataset("imagefolder", "train", str(tmp_path / "nope"))


def test_synthetic_splits_share_classes():
    a = load_dataset("synthetic", "train", limit=50)
    b = load_dataset("synthetic", "test", limit=50)
    assert not torch.equal(a.tensors[0], b.tensors[0])
    # class means agree across splits (same prototypes), so the test split is learnable
    ma = torch.stack([a.tensors[0][a.tensors[1] == c].mean(0) for c in range(10)])
    mb = torch.stack([b.tensors[0][b.tensors[1] == c].mean(0) for c in range(10)])
    assert torch.nn.functional.cosine_similarity(ma.flatten(1), mb.flatten(1)).min() > 0.5


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    ds = load_dataset("fashion_mnist", "test")
    assert ds.tensors[0].shape == (10_000, 1, 32, 32)
    assert torch.bincount(ds.tensors[1]).tolist() == [1000] * 10
