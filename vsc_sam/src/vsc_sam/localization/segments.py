"""Segments in frame units and their conversion to official matches in seconds."""

from __future__ import annotations

from dataclasses import dataclass

from vsc_sam.formats import Match


@dataclass(frozen=True)
class Segment:
    """Query frames [q_start, q_end) copy reference frames [r_start, r_end) (ends exclusive)."""

    q_start: float
    q_end: float
    r_start: float
    r_end: float
    score: float

    def transposed(self) -> Segment:
        return Segment(self.r_start, self.r_end, self.q_start, self.q_end, self.score)


def segments_to_matches(
    segments: list[Segment], query_id: str, ref_id: str, fps: float = 1.0
) -> list[Match]:
    # Frame k covers [k/fps, (k+1)/fps), so exclusive frame ends map directly to seconds.
    return [
        Match(
            query_id,
            ref_id,
            s.q_start / fps,
            s.q_end / fps,
            s.r_start / fps,
            s.r_end / fps,
            float(s.score),
        )
        for s in segments
    ]
