"""Localisers: turn one query x reference similarity matrix into copied segments."""

from vsc_sam.localization.segments import Segment, segments_to_matches

__all__ = ["Segment", "segments_to_matches"]
