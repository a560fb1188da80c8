"""Official CSV formats: round trip, column order, id padding, strict errors."""

import pytest
from vsc_sam.formats import (
    CandidatePair,
    FormatError,
    Match,
    read_candidates,
    read_matches,
    write_candidates,
    write_matches,
)


def test_match_round_trip(tmp_path):
    matches = [
        Match("Q000001", "R000002", 0.5, 10.25, 3.0, 13.0, 0.7),
        Match("Q300001", "R000003", 1.0, 2.0, 5.0, 9.0, -1.5),
    ]
    path = tmp_path / "m.csv"
    write_matches(path, matches)
    assert read_matches(path) == matches
    assert not list(tmp_path.glob(".*tmp"))


def test_column_order_int_ids_and_gt_without_score(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text("ref_end,ref_start,query_id,ref_id,query_end,query_start\n18,10,1,2,14,4\n")
    (m,) = read_matches(path, is_ground_truth=True)
    assert m == Match("Q000001", "R000002", 4.0, 14.0, 10.0, 18.0, 1.0)


def test_candidates_round_trip_and_duplicates(tmp_path):
    path = tmp_path / "c.csv"
    pairs = [CandidatePair("Q000001", "R000001", 0.5), CandidatePair("Q000001", "R000002", 0.25)]
    write_candidates(path, pairs)
    assert read_candidates(path) == pairs
    path.write_text("query_id,ref_id,score\nQ1,R1,0.5\nQ1,R1,0.4\n")
    with pytest.raises(FormatError, match="duplicate pair"):
        read_candidates(path)


@pytest.mark.parametrize(
    "body,message",
    [
        ("query_id,ref_id,query_start,query_end,ref_start\nQ1,R1,0,1,0\n", "missing"),
        (
            "query_id,ref_id,query_start,query_end,ref_start,ref_end,score\nQ1,R1,0,x,0,1,1\n",
            "query_end",
        ),
        (
            "query_id,ref_id,query_start,query_end,ref_start,ref_end,score\nQ1,R1,0,1,0,1,nan\n",
            "NaN",
        ),
        (
            "query_id,ref_id,query_start,query_end,ref_start,ref_end,score\nQ1,R1,5,1,0,1,1\n",
            "start <= end",
        ),
        ("query_id,ref_id,query_start,query_end,ref_start,ref_end\nQ1,R1,0,1,0,1\n", "score"),
        (
            "query_id,ref_id,query_start,query_end,ref_start,ref_end,score\nQ1,R1,0,1,0,1,1,9\n",
            "more fields",
        ),
    ],
)
def test_malformed_rows_raise_clear_errors(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(FormatError, match=message) as info:
        read_matches(path)
    assert "bad.csv" in str(info.value)


def test_missing_file():
    with pytest.raises(FormatError, match="not found"):
        read_matches("/nonexistent/preds.csv")


def test_csv_files_score_like_in_memory(tmp_path):
    from vsc_sam.metrics import segment_micro_ap

    gt_path, pred_path = tmp_path / "gt.csv", tmp_path / "pred.csv"
    gt_path.write_text("query_id,ref_id,query_start,query_end,ref_start,ref_end\n1,2,0,10,0,10\n")
    write_matches(pred_path, [Match("Q000001", "R000002", 2, 12, 2, 12, 1.0)])
    gts = read_matches(gt_path, is_ground_truth=True)
    assert segment_micro_ap(gts, read_matches(pred_path)) == pytest.approx(0.64)
