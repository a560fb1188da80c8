"""Decode-loop overhead measured without wall time (valid on a shared CPU): the number of ATen
operations and of Python function calls per generated token, for the lean vanilla loop vs the
same vanilla decode through the tree machinery, and per verification cycle for a Jakiro tree.

    python bench/loop_overhead.py [--model smollm2-135m-instruct] [--tokens 32]
    -> results/loop_overhead.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = Path(__file__).resolve().parents[1]


class OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.ops[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))


def count(fn) -> dict:  # noqa: ANN001
    """ATen ops and Python function calls made by ``fn()`` (deterministic for a fixed input).
    Two passes, so the op counter's own Python calls are not counted as calls."""
    calls = 0

    def prof(frame, event, arg) -> None:  # noqa: ANN001, ARG001
        nonlocal calls
        if event == "call":
            calls += 1

    with OpCounter() as oc:
        res = fn()
    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return {"aten_ops": sum(oc.ops.values()), "python_calls": calls, "result": res,
            "top_ops": dict(oc.ops.most_common(8))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "results" / "loop_overhead.json"))
    ap.add_argument("--src", default=None,
                    help="import jakiro from this src folder instead (e.g. an older version "
                         "exported with `git archive`, to count the same decode before a change)")
    a = ap.parse_args()
    if a.src:
        sys.path.insert(0, str(Path(a.src).resolve()))
    from jakiro.atomic import write_text_atomic
    from jakiro.decode import DecodeConfig, generate
    from jakiro.draft_head import DraftHead, HeadConfig
    from jakiro.drafters import Drafter, HeadDrafter, TreeConfig
    from jakiro.pipeline import hardware, load_target, set_threads, today

    threads = set_threads(1)
    torch.manual_seed(0)
    target = load_target(a.model)
    prompt = torch.randint(0, target.model.cfg.vocab_size, (64,),
                           generator=torch.Generator().manual_seed(0))
    cfg = DecodeConfig(a.tokens, 512)
    rows = {}
    import inspect

    has_lean = "lean_vanilla" in inspect.signature(generate).parameters
    for name, lean in (("vanilla_lean_loop", True), ("vanilla_through_tree_loop", False)):
        if not has_lean and lean:
            continue  # an older runtime: only its (tree-loop) vanilla exists
        kw = {"lean_vanilla": lean} if has_lean else {}
        c = count(lambda kw=kw: generate(target.model, Drafter(), prompt, cfg, **kw))
        n = len(c.pop("result").tokens)
        rows[name] = {"tokens": n, "aten_ops_per_token": c["aten_ops"] / n,
                      "python_calls_per_token": c["python_calls"] / n, "top_ops": c["top_ops"]}
    head = DraftHead(target.model.cfg, HeadConfig(kind="jakiro")).eval()
    tree = TreeConfig(top_k=8, depth=5, total_token=24)
    c = count(lambda: generate(target.model, HeadDrafter(head, target.model, tree, 512), prompt,
                               cfg, tree.total_token))
    res = c.pop("result")
    rows["jakiro_random_head_tree"] = {
        "cycles": res.cycles, "aten_ops_per_cycle": c["aten_ops"] / res.cycles,
        "python_calls_per_cycle": c["python_calls"] / res.cycles, "top_ops": c["top_ops"]}
    lean = rows.get("vanilla_lean_loop", {})
    tree_loop = rows["vanilla_through_tree_loop"]
    out = {
        "paper": "Jakiro (arXiv 2502.06282): decode-loop overhead of this runtime",
        "metric": "ATen ops per token, lean vanilla loop",
        "value": lean.get("aten_ops_per_token"),
        "source": str(Path(a.src).resolve()) if a.src else "this checkout",
        "baseline": "ATen ops per token, vanilla through the tree loop (one-node trees)",
        "baseline_value": tree_loop["aten_ops_per_token"],
        "config": f"model={a.model} prompt=64 random tokens, max_new_tokens={a.tokens}, greedy",
        "seed": 0, "hardware": hardware(threads), "command": " ".join(sys.argv), "date": today(),
        "note": "operation and call counts are deterministic: independent of CPU load",
        "rows": rows,
    }
    write_text_atomic(Path(a.out), json.dumps(out, indent=1))
    print(json.dumps({k: {kk: v for kk, v in r.items() if kk != "top_ops"}
                      for k, r in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
