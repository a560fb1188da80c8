"""Official VSC-2022 CSV formats: segment matches and candidate pairs.

Matches: header row required, columns in any order:
``query_id, ref_id, query_start, query_end, ref_start, ref_end[, score]`` (seconds).
Candidates (descriptor track): ``query_id, ref_id, score``.
Integer ids are zero-padded to ``Q000001`` / ``R000001`` as the official ``format_video_id`` does.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MATCH_COLUMNS = ("query_id", "ref_id", "query_start", "query_end", "ref_start", "ref_end")
CANDIDATE_COLUMNS = ("query_id", "ref_id", "score")


class FormatError(ValueError):
    """A CSV file or row does not follow the official format."""


@dataclass(frozen=True)
class Match:
    """One copied segment: query [query_start, query_end) copies ref [ref_start, ref_end)."""

    query_id: str
    ref_id: str
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    score: float = 1.0

    @property
    def pair_id(self) -> tuple[str, str]:
        return (self.query_id, self.ref_id)


@dataclass(frozen=True)
class CandidatePair:
    """A (query, reference) pair with a retrieval score (descriptor track)."""

    query_id: str
    ref_id: str
    score: float

    @property
    def pair_id(self) -> tuple[str, str]:
        return (self.query_id, self.ref_id)


def format_video_id(raw: str | int, prefix: str) -> str:
    """``7`` or ``"7"`` -> ``Q000007``; string ids that are not plain integers pass through."""
    text = str(raw).strip()
    if text.isdigit():
        return f"{prefix}{int(text):06d}"
    if not text:
        raise FormatError(f"empty {'query' if prefix == 'Q' else 'ref'} id")
    return text


def _parse_float(value: str, column: str, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FormatError(f"{where}: column '{column}' must be a number, got {value!r}") from None
    if math.isnan(number) or math.isinf(number):
        raise FormatError(f"{where}: column '{column}' is {value!r}; NaN/inf are not allowed")
    return number


def _read_rows(path: str | Path, required: Sequence[str]) -> tuple[list[dict[str, str]], list[str]]:
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: file not found")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise FormatError(
                f"{path}: header must contain columns {list(required)}, missing {missing} "
                f"(found {header}); the official format requires a header row"
            )
        reader.fieldnames = header
        rows = [row for row in reader]
    return rows, header


def read_matches(path: str | Path, is_ground_truth: bool = False) -> list[Match]:
    """Read a matching-track CSV. Ground truth may omit ``score`` (set to 1.0, as officially)."""
    rows, header = _read_rows(path, MATCH_COLUMNS)
    has_score = "score" in header
    if not is_ground_truth and not has_score:
        raise FormatError(f"{path}: predictions need a 'score' column")
    matches = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        if None in row:
            raise FormatError(f"{where}: more fields than header columns")
        times = [_parse_float(row[c], c, where) for c in MATCH_COLUMNS[2:]]
        if times[0] > times[1] or times[2] > times[3]:
            raise FormatError(f"{where}: expected start <= end on both axes, got {times}")
        score = (
            1.0 if is_ground_truth or not has_score else _parse_float(row["score"], "score", where)
        )
        matches.append(
            Match(
                format_video_id(row["query_id"], "Q"),
                format_video_id(row["ref_id"], "R"),
                *times,
                score,
            )
        )
    return matches


def read_candidates(path: str | Path) -> list[CandidatePair]:
    """Read a descriptor-track candidate CSV; duplicate pairs are rejected."""
    rows, _ = _read_rows(path, CANDIDATE_COLUMNS)
    pairs, seen = [], set()
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        pair = CandidatePair(
            format_video_id(row["query_id"], "Q"),
            format_video_id(row["ref_id"], "R"),
            _parse_float(row["score"], "score", where),
        )
        if pair.pair_id in seen:
            raise FormatError(f"{where}: duplicate pair {pair.pair_id}")
        seen.add(pair.pair_id)
        pairs.append(pair)
    return pairs


def _atomic_write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    # Write to a temporary file in the same folder, then rename: readers never see half a file.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_matches(path: str | Path, matches: Iterable[Match]) -> None:
    rows = (
        (
            m.query_id,
            m.ref_id,
            repr(m.query_start),
            repr(m.query_end),
            repr(m.ref_start),
            repr(m.ref_end),
            repr(m.score),
        )
        for m in matches
    )
    _atomic_write_csv(path, (*MATCH_COLUMNS, "score"), rows)


def write_candidates(path: str | Path, pairs: Iterable[CandidatePair]) -> None:
    rows = ((p.query_id, p.ref_id, repr(p.score)) for p in pairs)
    _atomic_write_csv(path, CANDIDATE_COLUMNS, rows)


def validate_matches(matches: Sequence[Match], what: str = "predictions") -> None:
    """In-memory equivalent of the CSV checks: finite numbers, start <= end."""
    for index, m in enumerate(matches):
        values = (m.query_start, m.query_end, m.ref_start, m.ref_end, m.score)
        if any(math.isnan(v) or math.isinf(v) for v in values):
            raise FormatError(f"{what}[{index}] ({m.query_id},{m.ref_id}): NaN/inf in {values}")
        if m.query_start > m.query_end or m.ref_start > m.ref_end:
            raise FormatError(f"{what}[{index}] ({m.query_id},{m.ref_id}): start > end in {values}")
