"""VCSL's Temporal Network (TN), the aligner of the official VSC baseline, re-implemented from the
VCSL paper/code semantics (He et al., CVPR 2022, ``vcsl/vta.py::tn``; Tan et al. 2009).

Graph: every query frame's ``top_k`` reference frames are nodes. An edge joins (qi, ri) to
(qj, rj), weighted by sim[qj, rj], when
- C1: 0 < qj - qi < max_step,
- C2: 0 < rj - ri < max_step,
- C3: no reference frame that is already a valid edge target from qi at an earlier query frame
  q' (qi < q' < qj) lies strictly between ri and rj (VCSL drops the paper's equal sign),
- C4: sim[qj, rj] >= min_sim.
Extraction, repeated ``max_path + 1`` times (VCSL's loop bound): the heaviest path (sum of edge
weights, networkx ``dag_longest_path`` semantics: a node extends its best predecessor when that
total is >= 0, ties go to the first-inserted predecessor = the smallest node id), then the path's
EDGES are set to weight 0 (its nodes stay usable by later paths). The path's box is kept when
sum(sim on path nodes) / mean box side > min_sim, both sides (last - first frame) > min_length and
its IoU with every kept box < max_iou (VCSL's inclusive-pixel IoU).

Box score (VCSL returns no score): ``max`` = maximum similarity inside the box, as the official
VSC baseline scores TN boxes; ``mean`` = mean similarity along the path. Output boxes are
[first, last + 1) frames like every other localiser here.

Not reproduced: VCSL links every node to the *last* node it created (a "sink" that is really the
last query frame's k-th candidate) with zero-weight edges, which can stretch a box to that node;
we treat it as a bug and leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsc_sam.localization.segments import Segment
from vsc_sam.schema import bounded


@dataclass
class Graph:
    q: np.ndarray  # query frame of each node (node id = q * k + rank)
    r: np.ndarray  # reference frame of each node
    src: np.ndarray  # edges, sorted by (target, source)
    dst: np.ndarray
    weight: np.ndarray


def build_graph(sim: np.ndarray, top_k: int, max_step: int, min_sim: float) -> Graph:
    h, w = sim.shape
    k = min(top_k, w)
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    src, dst, weight = [], [], []
    for qi in range(h):
        ri = top[qi]
        reached = np.empty(0, dtype=np.int64)  # C3: targets already valid from qi
        for qj in range(qi + 1, min(h, qi + max_step)):  # C1
            rj = top[qj]
            diff = rj[:, None] - ri[None, :]  # (target rank, source rank)
            ok = (diff > 0) & (diff < max_step)  # C2
            if len(reached):
                between = (reached > ri[None, :, None]) & (reached < rj[:, None, None])
                ok &= ~between.any(-1)  # C3
            ok &= (sim[qj, rj] >= min_sim)[:, None]  # C4
            rows, cols = np.nonzero(ok)
            src.append(qi * k + cols)
            dst.append(qj * k + rows)
            weight.append(sim[qj, rj[rows]])
            reached = np.union1d(reached, rj[rows])
    src = np.concatenate(src) if src else np.empty(0, dtype=np.int64)
    dst = np.concatenate(dst) if dst else np.empty(0, dtype=np.int64)
    weight = np.concatenate(weight).astype(np.float64) if weight else np.empty(0)
    order = np.lexsort((src, dst))
    nodes = np.arange(h * k)
    return Graph(nodes // k, top.reshape(-1), src[order], dst[order], weight[order])


def longest_path(graph: Graph, weight: np.ndarray) -> tuple[list[int], list[int], float]:
    """Nodes and edge indices of the heaviest path, and its total weight (networkx semantics)."""
    n = len(graph.q)
    dist = np.zeros(n)
    parent_edge = np.full(n, -1)
    if len(graph.dst):
        starts = np.flatnonzero(np.r_[True, graph.dst[1:] != graph.dst[:-1]])
        targets = graph.dst[starts]
        # Targets in node order = query-frame order, a topological order of this DAG: every
        # source's dist is final before its targets are computed. One query row at a time.
        bounds = np.r_[starts, len(graph.dst)]
        rows = graph.q[targets]
        for row in np.unique(rows):
            group = np.flatnonzero(rows == row)
            lo, hi = bounds[group[0]], bounds[group[-1] + 1]
            cand = dist[graph.src[lo:hi]] + weight[lo:hi]
            seg = starts[group] - lo
            best = np.maximum.reduceat(cand, seg)
            index = np.arange(lo, hi)
            is_best = cand == np.repeat(best, np.diff(np.r_[seg, hi - lo]))
            first = np.minimum.reduceat(np.where(is_best, index, hi), seg)
            keep = best >= 0
            dist[targets[group[keep]]] = best[keep]
            parent_edge[targets[group[keep]]] = first[keep]
    end = int(np.argmax(dist))  # first maximum in node order
    nodes, edges = [end], []
    while parent_edge[nodes[-1]] >= 0:
        edges.append(int(parent_edge[nodes[-1]]))
        nodes.append(int(graph.src[edges[-1]]))
    return nodes[::-1], edges[::-1], float(dist[end])


def _iou_inclusive(box: tuple[int, int, int, int], kept: list) -> float:
    """VCSL's IoU of [q0, r0, q1, r1] boxes counting pixels inclusively (+1)."""
    best = 0.0
    for other in kept:
        iw = min(box[2], other[2]) - max(box[0], other[0]) + 1
        ih = min(box[3], other[3]) - max(box[1], other[1]) + 1
        inter = max(iw, 0) * max(ih, 0)
        area = lambda b: (b[2] - b[0] + 1) * (b[3] - b[1] + 1)  # noqa: E731
        best = max(best, inter / (area(box) + area(other) - inter))
    return best


@dataclass
class TemporalNetwork:
    top_k: int = bounded(5, low=1)
    min_sim: float = 0.2
    max_step: int = bounded(10, low=2)
    min_length: int = bounded(5, low=0)  # box sides (last - first frame) must exceed this
    max_iou: float = bounded(0.3, low=0.0, high=1.0)
    max_path: int = bounded(10, low=0)  # extraction rounds = max_path + 1 (VCSL)
    score: str = bounded("max", choices=("max", "mean"))

    def boxes(self, sim: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """VCSL's output: kept [q0, r0, q1, r1] boxes (inclusive frames), each with the mean
        similarity along its path."""
        graph = build_graph(sim, self.top_k, self.max_step, self.min_sim)
        weight = graph.weight.copy()
        kept: list = []
        for _ in range(self.max_path + 1):
            nodes, edges, total = longest_path(graph, weight)
            if total <= 0:  # only the empty path is left (networkx returns the source node)
                break
            weight[edges] = 0.0
            qs, rs = graph.q[nodes], graph.r[nodes]
            score = float(sim[qs, rs].sum())
            box = (int(qs.min()), int(rs.min()), int(qs.max()), int(rs.max()))
            q_side, r_side = box[2] - box[0], box[3] - box[1]
            if score <= 0 or q_side + r_side == 0:
                continue
            if (
                score / ((q_side + r_side) / 2) > self.min_sim
                and min(q_side, r_side) > self.min_length
                and _iou_inclusive(box, [b for b, _ in kept]) < self.max_iou
            ):
                kept.append((box, score / len(nodes)))
        return kept

    def __call__(self, sim: np.ndarray) -> list[Segment]:
        segments = []
        for (q0, r0, q1, r1), path_mean in self.boxes(sim):
            box_max = float(sim[q0 : q1 + 1, r0 : r1 + 1].max())
            value = box_max if self.score == "max" else path_mean
            segments.append(Segment(q0, q1 + 1, r0, r1 + 1, value))
        return segments
