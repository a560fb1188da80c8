"""The oracle decomposition of bench/error_decomposition.py: identities and orderings."""

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vsc_sam.formats import Match, write_matches
from vsc_sam.metrics import segment_micro_ap

_SPEC = importlib.util.spec_from_file_location(
    "error_decomposition", Path(__file__).parents[1] / "bench" / "error_decomposition.py"
)
ed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ed)

GTS = [
    Match("Q1", "R1", 2.0, 12.0, 5.0, 15.0),
    Match("Q2", "R2", 0.0, 4.0, 10.0, 14.0),
    Match("Q2", "R2", 20.0, 30.0, 40.0, 50.0),
]


@st.composite
def predictions(draw):
    out = []
    for _ in range(draw(st.integers(1, 8))):
        q, r = draw(st.sampled_from([("Q1", "R1"), ("Q2", "R2"), ("Q3", "R1"), ("Q1", "R3")]))
        qs, rs = draw(st.integers(0, 40)), draw(st.integers(0, 40))
        ql, rl = draw(st.integers(1, 15)), draw(st.integers(1, 15))
        out.append(Match(q, r, qs, qs + ql, rs, rs + rl, draw(st.floats(0.0, 1.0))))
    return out


@settings(max_examples=60)
@given(predictions())
def test_decomposition_orders_and_identities(preds):
    d = ed.decompose(GTS, preds)
    assert d["as_is"] == segment_micro_ap(GTS, preds)
    # Each oracle removes one kind of error, the ceiling both: it bounds the other three.
    assert d["ceiling"] + 1e-12 >= max(d["as_is"], d["oracle_pairs"], d["oracle_boxes"])
    assert d["oracle_pairs"] + 1e-12 >= d["as_is"]
    # The ceiling is the recall of the copy pairs the localiser found (precision 1 throughout).
    found = {p.pair_id for p in preds}
    covered = [g for g in GTS if g.pair_id in found]
    assert d["ceiling"] == pytest.approx(segment_micro_ap(GTS, covered))  # GT scores are 1.0


def test_perfect_predictions_score_one_everywhere():
    assert ed.decompose(GTS, GTS) == {
        "as_is": 1.0,
        "oracle_pairs": 1.0,
        "oracle_boxes": 1.0,
        "ceiling": 1.0,
    }


def test_oracle_boxes_keep_the_pair_score_and_non_copy_predictions():
    preds = [
        Match("Q1", "R1", 0.0, 3.0, 0.0, 3.0, 0.7),
        Match("Q1", "R1", 4, 6, 7, 9, 0.2),
        Match("Q3", "R1", 0.0, 5.0, 0.0, 5.0, 0.9),
    ]
    boxes = ed.oracle_boxes(GTS, preds)
    assert Match("Q1", "R1", 2.0, 12.0, 5.0, 15.0, 0.7) in boxes  # the pair's best score
    assert preds[2] in boxes and len(boxes) == 2  # Q2/R2 was never found: no oracle box for it
    assert ed.oracle_pairs(GTS, preds) == preds[:2]


def test_run_checks_files_and_the_eval_json(tmp_path):
    with pytest.raises(SystemExit, match="ground_truth.csv"):
        ed.run(tmp_path)
    write_matches(tmp_path / "ground_truth.csv", GTS)
    preds = [Match("Q1", "R1", 2.0, 10.0, 5.0, 13.0, 0.5)]
    write_matches(tmp_path / "classical_tn.csv", preds)
    rows = ed.run(tmp_path)
    results = {
        "descriptors": {
            "classical": {"localisers": {"tn": {"segment_micro_ap": rows["classical_tn"]["as_is"]}}}
        }
    }
    ed.check_against_eval(rows, results)
    results["descriptors"]["classical"]["localisers"]["tn"]["segment_micro_ap"] += 0.01
    with pytest.raises(SystemExit, match="another run"):
        ed.check_against_eval(rows, json.loads(json.dumps(results)))
