"""Issue 21: the headline compares with the strongest same-run baseline, not beam search only."""

import json
import runpy
import sys
from pathlib import Path

import pytest
from diffusiondialog.evaluation import headline_fields

ROOT = Path(__file__).resolve().parents[1]


def _row(bleu1: float, d2: float, **extra) -> dict:
    return {"bleu1_plato_nltk_m7": bleu1, "distinct2_inter": d2, **extra}


def test_strongest_baseline_is_chosen_and_domination_reported():
    rows = {"diffusiondialog/ddim50-beam": _row(0.078, 0.099, unique_per_context=3.7),
            "diffusiondialog/study/ddim5-stride-greedy": _row(0.9, 0.9),  # never the method row
            "bart/beam": _row(0.048, 0.010), "bart/nucleus": _row(0.142, 0.834)}
    head = headline_fields(rows, 0.9)
    assert head["value"] == 0.099 and head["baseline_value"] == 0.834
    assert head["baseline"].startswith("strongest same-run baseline: BART without latent, "
                                       "nucleus p=0.9 (better than DiffusionDialog")
    t = head["targets"]
    assert t["strongest_baseline_row"] == "bart/nucleus" and t["dominated_by"] == ["bart/nucleus"]
    assert t["per_baseline"]["bart/beam"]["distinct2_ratio"] == pytest.approx(9.9)


def test_a_method_that_wins_is_not_called_dominated():
    rows = {"dd/ddim50-beam": _row(0.2, 0.9), "bart/beam": _row(0.1, 0.01),
            "bart/nucleus": _row(0.15, 0.8)}
    head = headline_fields(rows, 0.9)
    assert head["targets"]["dominated_by"] == [] and "better than" not in head["baseline"]


def test_rebaseline_rewrites_stored_rows_and_keeps_the_old_fields(tmp_path, monkeypatch):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"metric": "m", "value": 0.099, "baseline": "BART beam",
                             "baseline_value": 0.01, "rows": {
                                 "dd/ddim50-beam": _row(0.078, 0.099),
                                 "bart/beam": _row(0.048, 0.01),
                                 "bart/nucleus": _row(0.142, 0.834)}}))
    script = runpy.run_path(str(ROOT / "bench" / "rebaseline.py"))
    monkeypatch.setattr(sys, "argv", ["rebaseline.py", str(f)])
    script["main"]()
    out = json.loads(f.read_text())
    assert out["baseline_value"] == 0.834 and out["rebaselined"]["previous"]["baseline_value"] == 0.01
    f.write_text("{\"rows\": ")
    with pytest.raises(SystemExit, match="not valid JSON"):
        script["rebaseline"](f, 0.9)


def test_committed_headline_is_not_against_beam_only():
    res = json.loads((ROOT / "results" / "bench.json").read_text())
    assert res["headline"] is True
    assert res["baseline_value"] == max(r["distinct2_inter"] for k, r in res["rows"].items()
                                        if "ddim" not in k)
