"""jakiro-eval end to end on the random-tiny target: fp32 greedy identity, bf16, the automatic
tree budget, the int8 reference row and the raw outputs file."""

from __future__ import annotations

import json

import pytest
from jakiro.train import run as train

from jakiro import eval as ev
from tests.test_run_folder import CONVS, cfg, smoke


@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    mp = pytest.MonkeyPatch()
    mp.setenv("JAKIRO_CACHE", str(root / "cache"))
    data = root / "convs.json"
    data.write_text(json.dumps(CONVS))
    for kind in ("jakiro", "eagle"):
        train(smoke(root / kind, data, f"head={kind}"))
    q = root / "question.jsonl"
    q.write_text("".join(json.dumps({"question_id": i, "turns": [f"question number {i}"]}) + "\n"
                         for i in range(2)))
    yield root, q
    mp.undo()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_eval_runs_every_method_with_auto_budget_and_int8_row(heads, precision):
    root, q = heads
    out = root / f"eval_{precision}.json"
    r = ev.run(cfg(["experiment=smoke", f"precision={precision}", "~eval.benchmarks",
                    f"+eval.benchmarks.toy={q}", "eval.num_questions=2",
                    "eval.max_new_tokens=12", "eval.max_length=512", "eval.hf_peers=false",
                    "eval.int8_reference=true", "eval.tree.total_token=-1",
                    "eval.latency_ns=[1,4,8]", "eval.latency_reps=1",
                    f"eval.heads.jakiro={root / 'jakiro' / 'head'}",
                    f"eval.heads.eagle={root / 'eagle' / 'head'}", f"eval.out={out}"], "eval"))
    toy = r["benchmarks"]["toy"]
    assert set(toy) == {"vanilla", "eagle2", "jakiro", "jakiro_official_parent",
                        "jakiro_no_hybrid", "jakiro_star", "vanilla_int8"}
    assert r["precision"] == precision and r["tree"]["total_token"] in (1, 4, 8)
    assert r["resolved_config"]["precision"] == precision
    if precision == "fp32":  # lossless methods are identical to vanilla in fp32
        assert all(toy[m]["identity_rate"] == 1.0 for m in toy if m != "vanilla_int8")
    assert 0.0 <= toy["vanilla_int8"]["identity_rate"] <= 1.0
    outputs = json.loads(out.with_suffix(".outputs.json").read_text())
    assert len(outputs["toy"]["jakiro"]) == 2 and all(len(t) >= 1 for t in outputs["toy"]["jakiro"])
