"""Across-seed summary of the main comparison: pairing by seed and the t interval."""

import importlib.util
import json
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "seeds_summary", Path(__file__).resolve().parents[1] / "bench" / "seeds_summary.py")
seeds_summary = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(seeds_summary)


def fake_run(seed: int, sep: float, main: float, no_alrs: float) -> dict:
    acc = lambda v: {b: v for b in ("8", "6", "4", "2")}  # noqa: E731
    return {"seed": seed, "paper": "p", "config": {}, "hardware": "h", "date": "d", "fp32": {"accuracy": 70.0}, "separate_lsq": acc(sep),
            "arms": {seeds_summary.MAIN: {"accuracy": acc(main)},
                     seeds_summary.NO_ALRS: {"accuracy": acc(no_alrs)}}}


def test_gaps_are_paired_by_seed_with_t_interval(tmp_path):
    # Separate accuracies differ a lot between seeds; the paired gaps are 1, 2, 3.
    runs = [fake_run(0, 50.0, 51.0, 40.0), fake_run(1, 70.0, 72.0, 60.0),
            fake_run(2, 90.0, 93.0, 80.0)]
    (tmp_path / "bench_multi.json").write_text(json.dumps(runs[0]))
    for r in runs[1:]:
        (tmp_path / f"bench_multi_seed{r['seed']}.json").write_text(json.dumps(r))
    (tmp_path / "bench_multi_seeds.json").write_text("{}")  # its own output is not an input
    s = seeds_summary.summarize(seeds_summary.load_runs(tmp_path))
    gap = s["gap_vs_separate"]["6"]
    assert s["seed"] == [0, 1, 2] and gap["per_seed"] == [1.0, 2.0, 3.0]
    assert gap["mean"] == 2.0 and gap["sd"] == 1.0 and gap["se"] == pytest.approx(0.58, abs=0.01)
    # t(0.975, 2) = 4.303: 2 ± 4.303 / sqrt(3)
    assert gap["ci95"] == pytest.approx([-0.48, 4.48], abs=0.01)
    assert s["targets"]["w6 within 0.5"] == {"mean_meets": True, "ci95_lower_meets": True}
    assert s["alrs_minus_no_alrs"]["2"]["mean"] == pytest.approx(12.0)


def test_missing_results_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="make bench-multi"):
        seeds_summary.load_runs(tmp_path)
