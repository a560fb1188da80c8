"""Seeded, versioned synthetic VSC benchmark with exact ground truth in the official CSV format.

Statistics follow the VSC-2022 training set (vision.md §A1): ~23% of queries contain copies,
copy length median 9.8 s (IQR 6.8-14.7 s, 2-85 s), speed x0.67-x1.5, 1-3 source refs per
positive query, mostly one segment per pair. Videos are sampled at 1 fps (frame k = [k, k+1) s).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vsc_sam.edits import EDIT_PROBABILITIES, sample_edit_chain
from vsc_sam.formats import Match, read_matches, write_matches
from vsc_sam.scenes import Footage, random_footage
from vsc_sam.sources import SOURCE_POOLS
from vsc_sam.video_io import VideoDecodeError, read_video, write_video

# 1.1: source pools (data.<split>.source_pool); pool "all" draws exactly the v1.0 content.
GENERATOR_VERSION = "1.1"


@dataclass
class BenchmarkConfig:
    n_queries: int = 40
    n_refs: int = 20
    seed: int = 0
    id_offset: int = 0  # ids are Q{offset+i:06d} / R{offset+i:06d}; splits use distinct offsets
    frame_size: int = 64
    positive_fraction: float = 0.23
    ref_duration: tuple[float, float, float] = (27.0, 12.0, 60.0)  # median, min, max seconds
    query_duration: tuple[float, float, float] = (31.0, 10.0, 60.0)
    copy_length_median: float = 9.8
    copy_length_sigma: float = 0.57  # log-normal; matches the IQR 6.8-14.7 s
    copy_length_range: tuple[float, float] = (2.0, 85.0)
    refs_per_positive: tuple[float, float, float] = (0.82, 0.096, 0.084)
    second_segment_prob: float = 0.1
    speed_change_prob: float = 0.35
    speed_range: tuple[float, float] = (0.67, 1.5)
    frame_drop_prob: float = 0.2
    reversal_prob: float = 0.0
    edit_probabilities: dict[str, float] = field(default_factory=lambda: dict(EDIT_PROBABILITIES))
    # Visual sources the split draws from (sources.POOLS): "all" = the v1.0 sources shared by
    # every split; train / val / test = disjoint pools of whole photos and clips.
    source_pool: str = "all"

    def __post_init__(self) -> None:
        for name in ("n_queries", "n_refs", "frame_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"benchmark.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.positive_fraction <= 1:
            raise ValueError(
                f"benchmark.positive_fraction must be in [0, 1], got {self.positive_fraction}"
            )
        if self.source_pool not in SOURCE_POOLS:
            raise ValueError(
                f"benchmark.source_pool must be one of {list(SOURCE_POOLS)}, got {self.source_pool!r}"
            )
        if self.n_refs < 3:
            raise ValueError(
                f"benchmark.n_refs must be >= 3 (up to 3 sources per query), got {self.n_refs}"
            )


@dataclass
class Benchmark:
    queries: dict[str, np.ndarray]
    refs: dict[str, np.ndarray]
    ground_truth: list[Match]
    config: BenchmarkConfig
    edits: dict[str, list[str]]
    version: str = GENERATOR_VERSION

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        for vid, frames in {**self.queries, **self.refs}.items():
            write_video(folder / "videos" / f"{vid}.npz", frames)
        write_matches(folder / "ground_truth.csv", self.ground_truth)
        manifest = {
            "version": self.version,
            "config": asdict(self.config),
            "edits": self.edits,
            "queries": sorted(self.queries),
            "refs": sorted(self.refs),
        }
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(manifest, handle, indent=1)
        os.replace(tmp, folder / "manifest.json")

    @classmethod
    def load(cls, folder: str | Path) -> Benchmark:
        """A saved split; a truncated or malformed file raises ``BenchmarkFileError`` naming the
        file and the recovery (delete the cached split folder; it is regenerated from its config)."""
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{manifest_path}: benchmark manifest not found")
        recovery = f"delete {folder} to regenerate the split from its config"
        try:
            manifest = json.loads(manifest_path.read_text())
            config = BenchmarkConfig(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in manifest["config"].items()}
            )
            ids = manifest["queries"] + manifest["refs"]
            edits, version = manifest["edits"], manifest["version"]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise BenchmarkFileError(
                f"{manifest_path}: not a complete benchmark manifest ({type(error).__name__}: "
                f"{error}); expected JSON with version, config, edits, queries, refs; {recovery}"
            ) from None
        try:
            load = {v: read_video(folder / "videos" / f"{v}.npz") for v in ids}
            gts = read_matches(folder / "ground_truth.csv", is_ground_truth=True)
        except (OSError, ValueError, VideoDecodeError) as error:
            raise BenchmarkFileError(f"{error}; {recovery}") from None
        return cls(
            {q: load[q] for q in manifest["queries"]},
            {r: load[r] for r in manifest["refs"]},
            gts,
            config,
            edits,
            version,
        )


class BenchmarkFileError(ValueError):
    """A cached benchmark file is truncated or malformed."""


def _clipped_lognormal(rng, median, sigma, low, high) -> float:
    return float(np.clip(median * np.exp(sigma * rng.normal()), low, high))


@dataclass(frozen=True)
class _Piece:
    """A stretch of the query timeline: filler footage, or a copy of a reference."""

    length: int
    footage: Footage
    ref_id: str | None = None
    ref_start: float = 0.0
    speed: float = 1.0
    reversed: bool = False

    def source_time(self, t: float) -> float:
        if self.ref_id is None:
            return t
        if self.reversed:  # the last query frame shows the ref segment's first instant
            return self.ref_start + (self.length - 1 - t) * self.speed
        return self.ref_start + t * self.speed


def _copy_pieces(rng, cfg: BenchmarkConfig, ref_ids, ref_footage) -> list[_Piece]:
    n_refs = (
        int(rng.choice(3, p=np.asarray(cfg.refs_per_positive) / sum(cfg.refs_per_positive))) + 1
    )
    pieces = []
    for rid in rng.choice(ref_ids, size=n_refs, replace=False):
        for _ in range(2 if rng.random() < cfg.second_segment_prob else 1):
            ref_len = ref_footage[rid].duration
            speed = (
                float(np.exp(rng.uniform(*np.log(cfg.speed_range))))
                if rng.random() < cfg.speed_change_prob
                else 1.0
            )
            length = round(
                _clipped_lognormal(
                    rng, cfg.copy_length_median, cfg.copy_length_sigma, *cfg.copy_length_range
                )
            )
            length = max(2, min(length, int((ref_len - 0.5) / speed)))
            ref_start = round(float(rng.uniform(0, ref_len - length * speed)), 2)
            pieces.append(
                _Piece(
                    length,
                    ref_footage[rid],
                    str(rid),
                    ref_start,
                    speed,
                    bool(rng.random() < cfg.reversal_prob),
                )
            )
    return pieces


def _render_query(
    rng, cfg, pieces: list[_Piece]
) -> tuple[np.ndarray, list[tuple[_Piece, int]], list[str]]:
    size = cfg.frame_size
    chain = sample_edit_chain(rng, cfg.edit_probabilities)
    background = random_footage(rng, 30.0, pool=cfg.source_pool)
    frames, placed, t0 = [], [], 0
    for piece in pieces:
        drops = piece.ref_id is not None and rng.random() < cfg.frame_drop_prob
        previous = None
        for k in range(piece.length):
            if drops and previous is not None and rng.random() < 0.15:
                frame = previous  # dropped frame: the player repeats the previous one
            else:
                frame = piece.footage.render(piece.source_time(k), size)
            previous = frame
            bg = background.render((t0 + k) % background.duration, size)
            frames.append(chain.apply(frame, bg, t0 + k))
        if piece.ref_id is not None:
            placed.append((piece, t0))
        t0 += piece.length
    return np.stack(frames), placed, chain.names


def generate_benchmark(cfg: BenchmarkConfig, progress: bool = False) -> Benchmark:
    """Render references and copy-edited queries; return them with exact GT segments."""
    rng = np.random.default_rng([cfg.seed, cfg.id_offset, 2023])
    size = cfg.frame_size
    ref_ids = [f"R{cfg.id_offset + i:06d}" for i in range(cfg.n_refs)]
    ref_footage = {
        rid: random_footage(
            rng,
            float(round(_clipped_lognormal(rng, cfg.ref_duration[0], 0.4, *cfg.ref_duration[1:]))),
            pool=cfg.source_pool,
        )
        for rid in ref_ids
    }
    refs = {
        rid: np.stack([f.render(float(t), size) for t in range(int(f.duration))])
        for rid, f in tqdm(ref_footage.items(), desc="render refs", disable=not progress)
    }
    n_positive = round(cfg.n_queries * cfg.positive_fraction)
    positive = set(rng.choice(cfg.n_queries, size=n_positive, replace=False).tolist())
    queries, gts, edits = {}, [], {}
    for i in tqdm(range(cfg.n_queries), desc="render queries", disable=not progress):
        qid = f"Q{cfg.id_offset + i:06d}"
        total = round(_clipped_lognormal(rng, cfg.query_duration[0], 0.4, *cfg.query_duration[1:]))
        copies = _copy_pieces(rng, cfg, ref_ids, ref_footage) if i in positive else []
        fill = max(total - sum(p.length for p in copies), len(copies) + 1)
        # Split the filler time into len(copies)+1 gaps (some may be empty).
        cuts = np.sort(rng.integers(0, fill + 1, size=len(copies)))
        gaps = np.diff(np.concatenate([[0], cuts, [fill]])).tolist()
        pieces = []
        for gap, copy in zip(gaps, copies + [None], strict=True):
            if gap > 0:
                pieces.append(
                    _Piece(int(gap), random_footage(rng, float(gap), pool=cfg.source_pool))
                )
            if copy is not None:
                pieces.append(copy)
        queries[qid], placed, edits[qid] = _render_query(rng, cfg, pieces)
        gts += [
            Match(
                qid,
                p.ref_id,
                float(t0),
                float(t0 + p.length),
                p.ref_start,
                round(p.ref_start + p.length * p.speed, 6),
            )
            for p, t0 in placed
        ]
    return Benchmark(queries, refs, gts, cfg, edits)
