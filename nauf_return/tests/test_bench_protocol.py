"""Issue 12: equal budgets (CDA included), stored predictions + rescore, a dev split for tuning."""

import json

import pytest
from omegaconf import OmegaConf

from nauf_return import pipeline
from nauf_return.errors import ConfigError
from nauf_return.judge import build_judge
from nauf_return.losses import parse_method
from nauf_return.predictions import (
    ORIGINAL,
    prediction_rows,
    read_predictions,
    write_predictions,
)
from nauf_return.rescore import main as rescore_main
from nauf_return.rescore import rescore
from nauf_return.world import build_world

from conftest import TINY_OVERRIDES, compose


@pytest.fixture(scope="module")
def two_runs(original):
    """NAUF with CDA and without, one pass each, plus M_o's and both models' judged outputs."""
    cfg, world, acc, mo, tok, bench, _ = original
    cfg = OmegaConf.merge(cfg, {"trainer": {"epochs": 1}, "eval": {"robustness": False,
                                                                   "logprob": False}})
    judge = pipeline.make_judge(cfg)
    outs = {ORIGINAL: pipeline.evaluate_model(cfg, mo, tok, bench, True, judge)}
    logs = {}
    for name in ("nauf", "nauf_no_cda"):
        method = parse_method(name)
        mu, logs[method.name] = pipeline.unlearn(cfg, method, mo, tok, bench, acc, None)
        outs[method.name] = pipeline.evaluate_model(cfg, mu, tok, bench, True, judge)
    return cfg, bench, judge, outs, logs


def test_cda_gets_the_same_steps_and_examples(two_runs):
    cfg, bench, _, _, logs = two_runs
    with_cda = logs["augmented_refuse_kl_minimization"][-1]
    without = logs["refuse_kl_minimization"][-1]
    steps = pipeline.budget_steps(cfg, bench)
    n_forget = sum(len(p.qas) for p in bench.forget_train)
    assert steps == n_forget // int(cfg.trainer.batch_size)  # one pass, full batches
    assert with_cda["step"] == without["step"] == steps
    assert with_cda["examples_seen"] == without["examples_seen"] == steps * cfg.trainer.batch_size


def test_budget_needs_full_batches(original):
    cfg, _, _, _, _, bench, _ = original
    big = OmegaConf.merge(cfg, {"trainer": {"batch_size": 1000}})
    with pytest.raises(ConfigError, match="trainer.batch_size"):
        pipeline.budget_steps(big, bench)


def test_rescore_round_trip_reproduces_verdicts_and_scores(two_runs, tmp_path):
    cfg, _, judge, outs, _ = two_runs
    rows = [r for m, sets in outs.items() for r in prediction_rows(m, 42, sets)]
    path = tmp_path / "bench.predictions.jsonl"
    write_predictions(path, rows)
    stored = read_predictions(path)
    assert stored == rows
    scores, rejudged = rescore(stored, judge, seed=42)
    assert rejudged == rows  # same judge, same verdicts, same order
    for method in ("augmented_refuse_kl_minimization", "refuse_kl_minimization"):
        direct = pipeline.compare(outs[ORIGINAL], outs[method], 42)
        assert scores[method] == direct
    # Another judge re-judges from the stored outputs alone (no model).
    out = rescore_main([str(path), "--judge", "keyspan", "--out", str(tmp_path / "ks.json"),
                        "--out-predictions", str(tmp_path / "ks.jsonl")])
    assert set(out["methods"]) == {"augmented_refuse_kl_minimization", "refuse_kl_minimization"}
    assert len(read_predictions(tmp_path / "ks.jsonl")) == len(rows)


def test_rescore_changes_verdicts_when_the_judge_differs(tmp_path):
    rows = [{"method": m, "seed": 0, "set": s, "person": "P Q", "question": "Where was P Q born?",
             "gold": "P Q was born in Lyon.", "key": None, "output": out, "verdict": "correct"}
            for m, out in ((ORIGINAL, "In Lyon."), ("x", "I'm not certain about that."))
            for s in ("forget_test", "retain_test")]
    scores, new = rescore(rows, build_judge("keyspan"), seed=0)
    assert [r["verdict"] for r in new] == ["correct", "correct", "refusal", "refusal"]
    assert scores["x"]["forget_score"] == 100.0 and scores["x"]["retain_score"] == 0.0


def test_predictions_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    row = {"method": "original", "seed": 0, "set": "forget_test", "person": "A", "question": "q",
           "gold": "g", "key": None, "output": "o", "verdict": "correct"}
    path.write_text(json.dumps(row) + "\n" + json.dumps(row)[:40] + "\n")
    with pytest.raises(ConfigError, match=r"p.jsonl:2: not valid JSON"):
        read_predictions(path)
    path.write_text(json.dumps({k: v for k, v in row.items() if k != "output"}) + "\n")
    with pytest.raises(ConfigError, match=r"p.jsonl:1: missing field 'output'"):
        read_predictions(path)
    path.write_text(json.dumps(row | {"verdict": "maybe"}) + "\n")
    with pytest.raises(ConfigError, match=r"p.jsonl:1: field 'verdict'"):
        read_predictions(path)


def test_dev_split_is_disjoint_from_test_and_known_to_mo():
    cfg = compose(TINY_OVERRIDES + ["data.n_dev_forget=2", "data.n_dev_retain=3"])
    world = build_world(cfg.data)
    plain = build_world(compose(TINY_OVERRIDES).data)
    dev = {p.name for p in world.dev.forget_train + world.dev.retain_train}
    test = {p.name for p in world.bench.forget_test + world.bench.retain_test
            + world.bench.bystanders}
    assert len(dev) == 5 and not dev & test
    assert dev <= {p.name for p in world.known}
    # Adding a dev split changes no test person.
    assert [p.name for p in plain.bench.forget_test] == [p.name for p in world.bench.forget_test]
    with pytest.raises(ConfigError, match="n_dev_retain"):
        build_world(compose(TINY_OVERRIDES + ["data.n_dev_forget=2"]).data)
