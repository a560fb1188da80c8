"""Copy edits applied to query frames: the spatial augmentations seen in VSC queries.

An ``EditChain`` is sampled once per query (real copies edit the whole video consistently) and
applied frame by frame. The same library serves as augmentation for descriptor fine-tuning.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

EDIT_PROBABILITIES = {
    "crop": 0.25,
    "pad": 0.15,
    "hflip": 0.2,
    "rotate": 0.15,
    "blur": 0.25,
    "noise": 0.25,
    "jpeg": 0.3,
    "colour": 0.4,
    "overlay": 0.25,
    "pip": 0.1,
}


@dataclass
class EditChain:
    """A seeded list of (name, parameters) edits."""

    edits: list[tuple[str, dict]] = field(default_factory=list)
    seed: int = 0

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.edits]

    def apply(
        self, frame: np.ndarray, background: np.ndarray | None = None, index: int = 0
    ) -> np.ndarray:
        image = Image.fromarray(frame)
        size = image.size
        for name, p in self.edits:
            image = _EDIT_FUNCTIONS[name](image, p, background, index + self.seed)
        if image.size != size:
            image = image.resize(size, Image.BILINEAR)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def sample_edit_chain(
    rng: np.random.Generator, probabilities: dict[str, float] | None = None
) -> EditChain:
    probabilities = EDIT_PROBABILITIES if probabilities is None else probabilities
    unknown = set(probabilities) - set(_EDIT_FUNCTIONS)
    if unknown:
        raise ValueError(
            f"unknown edits {sorted(unknown)}; expected a subset of {sorted(_EDIT_FUNCTIONS)}"
        )
    edits = []
    for name in _EDIT_FUNCTIONS:  # fixed order keeps the chain deterministic
        if rng.random() < probabilities.get(name, 0.0):
            edits.append((name, _sample_params(name, rng)))
    return EditChain(edits, int(rng.integers(1 << 30)))


def _sample_params(name: str, rng: np.random.Generator) -> dict:
    u = rng.uniform
    return {
        "crop": lambda: {"scale": u(0.7, 0.95), "x": u(), "y": u()},
        "pad": lambda: {
            "fraction": u(0.05, 0.25),
            "colour": tuple(int(c) for c in rng.integers(0, 256, 3)),
        },
        "hflip": lambda: {},
        "rotate": lambda: {"angle": u(-15, 15)},
        "blur": lambda: {"radius": u(0.6, 1.6)},
        "noise": lambda: {"sigma": u(4, 18)},
        "jpeg": lambda: {"quality": int(rng.integers(15, 60))},
        "colour": lambda: {
            "brightness": u(0.7, 1.3),
            "contrast": u(0.7, 1.3),
            "saturation": u(0.4, 1.6),
        },
        "overlay": lambda: {
            "kind": int(rng.integers(2)),
            "x": u(0, 0.6),
            "y": u(0, 0.8),
            "colour": tuple(int(c) for c in rng.integers(0, 256, 3)),
        },
        "pip": lambda: {"scale": u(0.45, 0.7), "x": u(), "y": u()},
    }[name]()


def _crop(image, p, _bg, _i):
    w, h = image.size
    cw, ch = w * p["scale"], h * p["scale"]
    x0, y0 = (w - cw) * p["x"], (h - ch) * p["y"]
    return image.resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))


def _pad(image, p, _bg, _i):
    w, h = image.size
    inner = (max(1, round(w * (1 - 2 * p["fraction"]))), max(1, round(h * (1 - 2 * p["fraction"]))))
    canvas = Image.new("RGB", (w, h), p["colour"])
    canvas.paste(image.resize(inner, Image.BILINEAR), ((w - inner[0]) // 2, (h - inner[1]) // 2))
    return canvas


def _hflip(image, _p, _bg, _i):
    return image.transpose(Image.FLIP_LEFT_RIGHT)


def _rotate(image, p, _bg, _i):
    return image.rotate(p["angle"], resample=Image.BILINEAR)


def _blur(image, p, _bg, _i):
    return image.filter(ImageFilter.GaussianBlur(p["radius"]))


def _noise(image, p, _bg, index):
    # Noise differs per frame but is reproducible from the chain seed and frame index.
    rng = np.random.default_rng(index)
    array = np.asarray(image, dtype=np.float32) + rng.normal(
        0, p["sigma"], (image.size[1], image.size[0], 3)
    )
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _jpeg(image, p, _bg, _i):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=p["quality"])
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _colour(image, p, _bg, _i):
    image = ImageEnhance.Brightness(image).enhance(p["brightness"])
    image = ImageEnhance.Contrast(image).enhance(p["contrast"])
    return ImageEnhance.Color(image).enhance(p["saturation"])


def _overlay(image, p, _bg, _i):
    w, h = image.size
    draw = ImageDraw.Draw(image)
    x, y = p["x"] * w, p["y"] * h
    if p["kind"] == 0:  # caption bar with text
        draw.rectangle((0, y, w, y + h * 0.15), fill=p["colour"])
        draw.text((x, y), "COPY", fill=(255 - p["colour"][0], 255, 255))
    else:  # emoji-like disc
        r = 0.15 * w
        draw.ellipse((x, y, x + r, y + r), fill=p["colour"])
    return image


def _pip(image, p, background, _i):
    w, h = image.size
    canvas = (
        Image.fromarray(background).resize((w, h))
        if background is not None
        else Image.new("RGB", (w, h), (20, 20, 20))
    )
    inner = (max(1, round(w * p["scale"])), max(1, round(h * p["scale"])))
    canvas.paste(
        image.resize(inner, Image.BILINEAR),
        (round((w - inner[0]) * p["x"]), round((h - inner[1]) * p["y"])),
    )
    return canvas


_EDIT_FUNCTIONS = {
    "crop": _crop,
    "pad": _pad,
    "hflip": _hflip,
    "rotate": _rotate,
    "blur": _blur,
    "noise": _noise,
    "jpeg": _jpeg,
    "colour": _colour,
    "overlay": _overlay,
    "pip": _pip,
}
