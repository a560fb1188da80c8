"""Data loading: IDX parsing and its error messages, split disjointness, augmentation."""

import gzip

import numpy as np
import pytest
import torch

from ghostnetv3.config import DataConfig
from ghostnetv3.data import FASHION_MNIST, DataError, augment, image_folder, read_idx


def write_idx(path, array, truncate=0):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw[: len(raw) - truncate]))


def test_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", arr)
    assert np.array_equal(read_idx(tmp_path / "x.gz"), arr)


def test_truncated_file_names_file_and_sizes(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 28)), truncate=100)
    with pytest.raises(DataError) as err:
        read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    text = str(err.value)
    assert "train-images-idx3-ubyte.gz" in text and "(5, 28, 28)" in text
    assert "holds 3836 bytes (truncated?)" in text and "reinstall dataset-fashion-mnist" in text


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_idx(path, np.zeros(1000))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is not a readable gzip"):
        read_idx(path)


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist.*data.root"):
        read_idx(tmp_path / "nope.gz")


def test_image_folder_without_classes(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    with pytest.raises(DataError, match="train has no class folders"):
        image_folder(DataConfig(name="imagefolder", root=str(tmp_path)))


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_splits_are_disjoint_and_fixed():
    from ghostnetv3.data import fashion_mnist

    cfg = DataConfig(train_limit=300, val_size=200, test_limit=100, image_size=40)
    a, b = fashion_mnist(cfg), fashion_mnist(cfg)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert a.train.tensors[0].shape == (300, 1, 40, 40) and len(a.val) == 200 and len(a.test) == 100
    train = {t.numpy().tobytes() for t in a.train.tensors[0]}
    assert not any(v.numpy().tobytes() in train for v in a.val.tensors[0])


def test_augment_is_seeded_and_shape_preserving():
    x = torch.randn(6, 1, 33, 33)
    a = augment(x, 4, True, torch.Generator().manual_seed(0))
    b = augment(x, 4, True, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
