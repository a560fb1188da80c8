"""End to end on a seconds-sized target: train (target + true reference) then evaluate every
method; orientation 'higher = member' on a target that memorised its members."""

from __future__ import annotations

import json

import pytest

from probing_mia import pipeline, run_folder
from probing_mia.errors import ConfigError
from probing_mia.metrics import auc
from probing_mia.report import BLACK_BOX

from conftest import SHORT, needs_arxivmia, typed

EVAL = ["attacks.n_neighbours=2", "metrics.bootstrap=20", "probe.steps=100",
        "attacks.ks=[0.2,1.0]"]


@pytest.fixture(scope="module")
def memorised(tmp_path_factory):
    """Members repeated 10x, 120 steps: the Loss attack must separate them."""
    root = tmp_path_factory.mktemp("e2e")
    overrides = SHORT + ["corpus.duplication=10", "trainer.max_steps=120", "trainer.lr=1e-2",
                         "trainer.save_every=60", "corpus.dev_fraction=0.25",
                         "model.max_length=96"]
    cfg = typed(overrides + [f"out_dir={root / 'train'}"])
    pipeline.train_target(cfg, run_folder.prepare(cfg))
    eval_cfg = typed(overrides + EVAL + [f"out_dir={root / 'eval'}",
                                        f"target_dir={root / 'train'}"], "eval")
    results = pipeline.evaluate(eval_cfg, run_folder.prepare(eval_cfg))
    return root, results


@needs_arxivmia
def test_every_method_is_scored_and_raw_scores_are_stored(memorised):
    root, results = memorised
    methods = results["methods"]
    assert set(BLACK_BOX) | {"blind", "probe_transductive", "probe_inductive"} == set(methods)
    assert results["best_attack_by_dev"] in BLACK_BOX
    assert results["proxy_steps"] == 2 and results["overlap_removed"] == []
    rows = [json.loads(line) for line in (root / "eval" / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == results["n_test"] == 12
    # The stored raw scores re-score to the reported AUCs.
    for name in methods:
        assert auc([r["label"] for r in rows], [r[name] for r in rows]) == pytest.approx(
            methods[name]["test"]["auc"]["value"])
    assert (root / "eval" / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert len(methods["probe_inductive"]["dev_auc_per_layer"]) == 2


@needs_arxivmia
def test_scores_are_oriented_higher_is_member_on_a_memorised_target(memorised):
    _, results = memorised
    methods = results["methods"]
    # Loss and Ref on 10x-repeated members of a model trained on them: near-perfect.
    assert methods["loss"]["test"]["auc"]["value"] > 0.9
    assert methods["ref"]["test"]["auc"]["value"] > 0.9
    assert methods["minkpp"]["test"]["auc"]["value"] > 0.75


@pytest.fixture
def benchmark_overrides(tmp_path, tiny_pair) -> list[str]:
    """A saved tiny model and small dev / test / probe JSONL files (one probe text leaks)."""
    model, tokenizer = tiny_pair
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()

    def rows(n, split):
        return [{"input": f"{split} {i} " + " ".join(words[(i + j) % 10] for j in range(6)),
                 "label": i % 2} for i in range(n)]

    dev, test, probe = rows(10, "dev"), rows(16, "test"), rows(12, "probe")
    probe[0] = dict(dev[2])  # the leak: one probe-training text is also a dev text
    for name, data in (("dev", dev), ("test", test), ("probe", probe)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    return [f"model.spec={tmp_path / 'model'}", "model.max_length=96",
            f"benchmark.dev={tmp_path / 'dev.jsonl'}",
            f"benchmark.test={tmp_path / 'test.jsonl'}",
            f"probe.probe_data={tmp_path / 'probe.jsonl'}", "attacks.n_neighbours=2",
            "metrics.bootstrap=10", "probe.steps=50", f"out_dir={tmp_path / 'eval'}"]


def test_benchmark_labels_mode_detects_and_removes_the_probe_overlap(benchmark_overrides):
    cfg = typed(benchmark_overrides, "eval")
    results = pipeline.evaluate(cfg, run_folder.prepare(cfg))
    assert [(h["split"], h["index"]) for h in results["overlap_removed"]] == [("dev", 2)]
    assert results["labels"] == "benchmark (temporal)" and results["n_test"] == 16
    assert "ref" not in results["methods"] and "probe_inductive" in results["methods"]


def test_fixed_layer_out_of_range_is_refused_before_any_work(benchmark_overrides):
    cfg = typed([*benchmark_overrides, "probe.layer=3"], "eval")  # the model has 3 layers
    out = run_folder.prepare(cfg)
    with pytest.raises(ConfigError, match="probe.layer=3 is out of range"):
        pipeline.evaluate(cfg, out)
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "config_hash"]
