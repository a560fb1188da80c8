"""VCSL's Temporal Network: hand-worked graphs and extractions, and equality with a direct
networkx transcription of VCSL's algorithm (dag_longest_path + edge zeroing) on random matrices."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vsc_sam.localization.temporal_network import TemporalNetwork, build_graph


def edges(sim, **kw):
    """{((qi, ri), (qj, rj)): weight} of the TN graph."""
    g = build_graph(sim, **kw)
    node = lambda n: (int(g.q[n]), int(g.r[n]))  # noqa: E731
    return {
        (node(a), node(b)): round(float(w), 6)
        for a, b, w in zip(g.src, g.dst, g.weight, strict=True)
    }


def test_c3_drops_the_edge_that_skips_a_reachable_frame():
    # one node per query frame (top_k=1): r0, r2, r3. q0 -> q2 (r0 -> r3) satisfies C1, C2 and
    # C4, but r2 is already reached from q0 at q1 and lies strictly between 0 and 3: C3 drops it.
    sim = np.zeros((3, 4))
    sim[0, 0], sim[1, 2], sim[2, 3] = 0.9, 0.5, 0.9
    got = edges(sim, top_k=1, max_step=4, min_sim=0.2)
    assert got == {((0, 0), (1, 2)): 0.5, ((1, 2), (2, 3)): 0.9}


def test_c1_c2_are_strict_and_c4_checks_the_target():
    sim = np.zeros((4, 6))
    sim[0, 0], sim[3, 3] = 0.9, 0.9  # q and r both 3 apart: == max_step, no edge
    sim[1, 1], sim[2, 1] = 0.15, 0.9  # (0,0)->(1,1) fails C4 (0.15 < 0.2); (1,1)->(2,1): r equal
    got = edges(sim, top_k=1, max_step=3, min_sim=0.2)
    assert ((0, 0), (1, 1)) not in got and ((1, 1), (2, 1)) not in got
    assert ((0, 0), (3, 3)) not in got
    # (1,1) failed C4 as a target, so it is not "reached" and does not block (0,0)->(2,1) by C3
    assert got == {((0, 0), (2, 1)): 0.9, ((1, 1), (3, 3)): 0.9, ((2, 1), (3, 3)): 0.9}


def crossing_case():
    """Hand-worked: line A (q, q) at 0.9 for q = 0..4 and a branch B
    (2,2) -> (3,4) -> (4,5) at 0.6; second candidates elsewhere are below min_sim."""
    sim = np.zeros((5, 10))
    for q in range(5):
        sim[q, q] = 0.9
    sim[0, 9], sim[1, 8], sim[2, 7] = 0.1, 0.1, 0.1
    sim[3, 4], sim[4, 5] = 0.6, 0.6
    return sim


def test_edges_of_the_crossing_case():
    got = edges(crossing_case(), top_k=2, max_step=3, min_sim=0.2)
    assert got == {
        ((0, 0), (1, 1)): 0.9,
        ((1, 1), (2, 2)): 0.9,
        ((2, 2), (3, 3)): 0.9,
        ((2, 2), (3, 4)): 0.6,
        ((3, 3), (4, 4)): 0.9,
        ((3, 3), (4, 5)): 0.6,
        ((3, 4), (4, 5)): 0.6,
    }


def test_edges_are_zeroed_not_nodes_removed():
    # Path 1 is line A (3.6). With A's edges zeroed, path 2 runs (0,0)..(2,2) for free and
    # branches to (3,4),(4,5): box [0,0,4,5], IoU 25/30 = 0.83 with A's box, kept under
    # max_iou 0.9. Had A's nodes been removed, path 2 would be (3,4)->(4,5), sides 1, rejected.
    # Path 3, (0,0)..(3,3)->(4,5), repeats box 2 (IoU 1) and is rejected; then nothing is left.
    tn = TemporalNetwork(top_k=2, max_step=3, min_sim=0.2, min_length=1, max_iou=0.9)
    kept = tn.boxes(crossing_case())
    assert [box for box, _ in kept] == [(0, 0, 4, 4), (0, 0, 4, 5)]
    assert [m for _, m in kept] == pytest.approx([0.9, (3 * 0.9 + 2 * 0.6) / 5])
    # the default IoU bound 0.3 rejects the second box; max_path 0 runs one extraction
    strict_iou = TemporalNetwork(top_k=2, max_step=3, min_length=1)
    assert [b for b, _ in strict_iou.boxes(crossing_case())] == [(0, 0, 4, 4)]
    one_round = TemporalNetwork(top_k=2, max_step=3, min_length=1, max_iou=0.9, max_path=0)
    assert len(one_round.boxes(crossing_case())) == 1


def test_box_scores_and_exclusive_ends():
    sim = crossing_case()
    tn = TemporalNetwork(top_k=2, max_step=3, min_sim=0.2, min_length=1, max_iou=0.9)
    first, second = tn(sim)
    assert (first.q_start, first.q_end, first.r_start, first.r_end) == (0, 5, 0, 5)
    assert (second.q_end, second.r_end) == (5, 6)
    assert second.score == pytest.approx(0.9)  # max similarity inside the box (VSC baseline)
    tn.score = "mean"
    assert tn(sim)[1].score == pytest.approx(0.78)  # mean along the path


def test_min_length_is_strict_on_box_sides():
    sim = np.zeros((8, 8))
    for q in range(5):
        sim[q + 1, q + 2] = 0.9  # 5 frames: sides (last - first) = 4
    # VCSL property: a path's first node is not checked by C4, so the all-zero row 0 (its top-1
    # node is (0, 0)) is prepended to the copy: box (0, 0)-(5, 6), sides 5 and 6.
    (seg,) = TemporalNetwork(top_k=1, max_step=3, min_length=4)(sim)
    assert (seg.q_start, seg.r_start, seg.q_end, seg.r_end) == (0, 0, 6, 7)
    sim[0, 7] = 0.05  # row 0's node moves out of reach: only the copy is left
    (seg,) = TemporalNetwork(top_k=1, max_step=3, min_length=3)(sim)
    assert (seg.q_start, seg.r_start, seg.q_end, seg.r_end) == (1, 2, 6, 7)
    assert TemporalNetwork(top_k=1, max_step=3, min_length=4)(sim) == []


def vcsl_reference(sim, top_k, max_step, min_sim, min_length, max_iou, max_path):
    """VCSL's tn() transcribed with networkx: source node 0, candidate nodes in (q, rank) order,
    edges inserted in VCSL's order, dag_longest_path, path edges set to weight 0."""
    h, w = sim.shape
    k = min(top_k, w)
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    graph = nx.DiGraph()
    graph.add_node(0)
    ids = {}
    for q in range(h):
        for c in range(k):
            ids[q, c] = len(ids) + 1
            graph.add_node(ids[q, c])
    where = {v: (q, int(top[q, c])) for (q, c), v in ids.items()}
    for qi in range(h):
        reached: set = set()
        for qj in range(qi + 1, min(h, qi + max_step)):
            new = set()
            for cj in range(k):
                for ci in range(k):
                    ri, rj = top[qi, ci], top[qj, cj]
                    if 0 < rj - ri < max_step and sim[qj, rj] >= min_sim:
                        if not any(ri < x < rj for x in reached):
                            graph.add_edge(ids[qi, ci], ids[qj, cj], weight=float(sim[qj, rj]))
                            new.add(int(rj))
            reached |= new
    boxes = []
    for _ in range(max_path + 1):
        path = nx.dag_longest_path(graph)
        for a, b in zip(path, path[1:], strict=False):
            graph[a][b]["weight"] = 0.0
        path = [v for v in path if v != 0]
        if not path:
            break
        qs, rs = [where[v][0] for v in path], [where[v][1] for v in path]
        score = float(sum(sim[q, r] for q, r in zip(qs, rs, strict=True)))
        box = (min(qs), min(rs), max(qs), max(rs)) if score > 0 else (0, 0, 0, 0)
        sides = (box[2] - box[0], box[3] - box[1])
        if sum(sides) == 0:
            continue
        ious = [iou_inclusive(box, b) for b in boxes] or [0.0]
        if score / (sum(sides) / 2) > min_sim and min(sides) > min_length and max(ious) < max_iou:
            boxes.append(box)
    return boxes


def iou_inclusive(a, b):
    iw = max(min(a[2], b[2]) - max(a[0], b[0]) + 1, 0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]) + 1, 0)
    area = lambda x: (x[2] - x[0] + 1) * (x[3] - x[1] + 1)  # noqa: E731
    return iw * ih / (area(a) + area(b) - iw * ih)


@given(
    seed=st.integers(0, 10**6),
    shape=st.tuples(st.integers(3, 14), st.integers(3, 14)),
    top_k=st.integers(1, 3),
    max_step=st.integers(2, 5),
    min_sim=st.sampled_from([0.0, 0.2, 0.4]),
    min_length=st.integers(0, 3),
    max_iou=st.sampled_from([0.3, 0.9]),
    lines=st.integers(0, 2),
)
def test_equals_networkx_transcription_of_vcsl(
    seed, shape, top_k, max_step, min_sim, min_length, max_iou, lines
):
    rng = np.random.default_rng(seed)
    sim = rng.uniform(-0.2, 0.6, shape)
    for _ in range(lines):  # planted copies, so long paths and re-used nodes occur
        q0, r0 = rng.integers(0, shape[0] // 2), rng.integers(0, shape[1] // 2)
        for t in range(min(shape[0] - q0, shape[1] - r0)):
            sim[q0 + t, r0 + t] = rng.uniform(0.7, 1.0)
    tn = TemporalNetwork(top_k, min_sim, max_step, min_length, max_iou, max_path=6)
    expected = vcsl_reference(sim, top_k, max_step, min_sim, min_length, max_iou, 6)
    assert [box for box, _ in tn.boxes(sim)] == expected
    for seg, box in zip(tn(sim), expected, strict=True):
        assert seg.score == pytest.approx(sim[box[0] : box[2] + 1, box[1] : box[3] + 1].max())


@pytest.mark.slow
@settings(max_examples=1500)
@given(
    seed=st.integers(0, 10**6),
    shape=st.tuples(st.integers(10, 45), st.integers(10, 45)),
    top_k=st.integers(1, 6),
    max_step=st.integers(2, 10),
    min_sim=st.sampled_from([0.0, 0.2, 0.3]),
)
def test_equals_networkx_transcription_on_video_sized_matrices(
    seed, shape, top_k, max_step, min_sim
):
    rng = np.random.default_rng(seed)
    sim = rng.uniform(-0.1, 0.7, shape)
    for _ in range(3):
        q0, r0 = rng.integers(0, shape[0] - 5), rng.integers(0, shape[1] - 5)
        speed = rng.choice([0.67, 1.0, 1.5])
        for t in range(shape[0] - q0):
            r = int(r0 + t * speed)
            if r < shape[1]:
                sim[q0 + t, r] = rng.uniform(0.6, 1.0)
    tn = TemporalNetwork(top_k, min_sim, max_step, 4, 0.3, max_path=10)
    expected = vcsl_reference(sim, top_k, max_step, min_sim, 4, 0.3, 10)
    assert [box for box, _ in tn.boxes(sim)] == expected
