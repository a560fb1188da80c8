"""SmolLM2-135M-Instruct study (issue 21): DiffusionDialog (latent as per-layer KV prefix,
LoRA) vs the same backbone + LoRA without latent, same data/steps/batch/optimizer/seed.

Train on DailyDialog `dial.dev` minus a validation slice, test on `dial.test`; latent
diagnostics on the validation slice; quality-diversity sweep on test contexts (baseline:
greedy, beam, nucleus p sweep, temperature sweep; DiffusionDialog: clamp on/off/matched, latent
temperature, nucleus). Writes results/<name>.json, <name>_generations.jsonl, <name>_curves.png.
Usage: python bench/llm_study.py --data ../shared/data/dailydialog [--steps N] [--contexts N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import random
import sys
import time
from pathlib import Path

import torch
from diffusiondialog.backbone import SMOLLM2, load_backbone
from diffusiondialog.chat_decoding import ChatDecode
from diffusiondialog.checkpoint import atomic_write_text
from diffusiondialog.data import Pair, read_plato_tsv
from diffusiondialog.llm_study import (
    baseline_nll,
    generate,
    latent_diagnostics,
    score,
    split_dialogues,
    train_lm,
)
from diffusiondialog.plots import plot_quality_diversity
from diffusiondialog.prefix_lm import PrefixLM, PrefixLMSpec
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]


def _pairs(path: Path, turns: int) -> list[Pair]:
    return [Pair(f"{path.name}-{i}", tuple(c[-turns:]), r)
            for i, (c, r) in enumerate(read_plato_tsv(path))]


def _args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="folder with dial.dev, dial.test")
    ap.add_argument("--backbone", default=SMOLLM2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--val", type=int, default=300)
    ap.add_argument("--contexts", type=int, default=20)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--max-context", type=int, default=48)
    ap.add_argument("--max-response", type=int, default=16)
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--gold-rc", type=float, default=0.0, help="gold-latent NLL weight")
    ap.add_argument("--context-dropout", type=float, default=0.0)
    ap.add_argument("--bow", type=float, default=1.0)
    ap.add_argument("--no-baseline", action="store_true",
                    help="DiffusionDialog only (a remedy variant; compare with another run's "
                         "baseline rows, same data/steps/seed)")
    ap.add_argument("--name", default="llm_pilot")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "llm")
    args = ap.parse_args(argv)
    for key in ("steps", "batch", "contexts", "k", "max_context", "max_response", "turns"):
        if getattr(args, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} must be >= 1")
    return args


def _build(args, use_latent: bool) -> tuple[PrefixLM, object]:
    torch.manual_seed(args.seed)
    lm, tok = load_backbone(args.backbone)
    spec = PrefixLMSpec(backbone=args.backbone, use_latent=use_latent, lora_r=args.lora_r,
                        context_dropout=args.context_dropout,
                        loss_weights={"diffusion": 1.0, "reconstruction": 1.0, "bow": args.bow,
                                      "gold_reconstruction": args.gold_rc})
    return PrefixLM(spec, lm), tok


def _sweeps(k: int, matched_clamp: float) -> list[tuple]:
    """(model, label, decoding, samples per context, latent settings) in priority order, so a
    run cut short has measured the central comparison first."""
    lat = {"ddim_steps": 50, "clamp": 1.0, "latent_temperature": 1.0}
    dd, base = "diffusiondialog", "baseline"
    return [
        (base, "nucleus-p0.8", ChatDecode("sample", top_p=0.8), k, None),
        (dd, "greedy-clamp1", ChatDecode("greedy"), k, lat),
        (base, "greedy", ChatDecode("greedy"), 1, None),
        (dd, "greedy-noclamp", ChatDecode("greedy"), k, {**lat, "clamp": None}),
        (dd, "greedy-clampmatched", ChatDecode("greedy"), k, {**lat, "clamp": matched_clamp}),
        (base, "nucleus-p0.5", ChatDecode("sample", top_p=0.5), k, None),
        (base, "nucleus-p0.95", ChatDecode("sample", top_p=0.95), k, None),
        (base, "temp-0.7", ChatDecode("sample", temperature=0.7), k, None),
        (base, "temp-1.0", ChatDecode("sample", temperature=1.0), k, None),
        (dd, "nucleus-p0.8", ChatDecode("sample", top_p=0.8), k, lat),
        (dd, "greedy-latenttemp0.5", ChatDecode("greedy"), k, {**lat, "latent_temperature": 0.5}),
        (base, "beam4", ChatDecode("beam", beams=4), 1, None),
    ]


def main(argv: list[str] | None = None) -> dict:
    args = _args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    train_all = _pairs(args.data / "dial.dev", args.turns)
    train, val = split_dialogues(train_all, args.val)
    if not val or len(train) < args.batch:
        raise SystemExit(f"--val {args.val}: {len(train)} train / {len(val)} validation pairs; "
                         "need a validation dialogue and at least one training batch")
    test = _pairs(args.data / "dial.test", args.turns)
    test = random.Random(0).sample(test, min(args.contexts, len(test)))
    contexts, refs = [p.context for p in test], [p.response for p in test]
    lens = (args.max_context, args.max_response)
    runs = args.runs / args.name
    result: dict = {**_header(args, len(train), len(val), contexts, refs), "complete": False,
                    "rows": {}, "train": {}}
    gens: list[dict] = []
    out = ROOT / "results" / f"{args.name}.json"
    save = _saver(out, gens, contexts, refs)
    models = {}
    kinds = [("baseline", False)] * (not args.no_baseline) + [("diffusiondialog", True)]
    for name, use_latent in kinds:
        model, tok = _build(args, use_latent)
        wall = train_lm(model, tok, train, args.steps, args.batch, args.lr, args.seed, lens,
                        runs / name / "metrics.jsonl")
        save_file(model.trainable_state(), str(runs / name / "trainable.safetensors"))
        result["train"][name] = {"wall_s": wall, "trainable_params": sum(
            p.numel() for p in model.parameters() if p.requires_grad)}
        models[name] = model
    vpairs = val[:32]
    if "baseline" in models:
        result["baseline_val_nll"] = baseline_nll(models["baseline"], tok, vpairs, lens)
    diag = latent_diagnostics(models["diffusiondialog"], tok, vpairs, lens)
    result["latent_diagnostics"] = diag
    save(result)
    for name, label, s, k, lat in _sweeps(args.k, diag["z0_abs_q999"]):
        if name not in models:
            continue
        t0 = time.perf_counter()
        samples = generate(models[name], tok, contexts, k, s, args.max_context, 0, lat)
        row = {**score(samples, refs), "decode_s": time.perf_counter() - t0, "k": k}
        if lat is not None:
            row["latent"] = lat
        result["rows"][f"{name}/{label}"] = row
        gens.append({"row": f"{name}/{label}", "samples": samples})
        save(result)
    result.update(best_rows(result["rows"]))
    if "baseline" in models:
        result["dominated_by"] = dominated_by(result["rows"])
    else:
        result["note"] += "; DiffusionDialog only (--no-baseline): baseline_value is in the run "\
            "it is compared with"
    result["complete"] = True
    save(result)
    plot_quality_diversity(result, ROOT / "results" / f"{args.name}_curves.png")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    return result


def _saver(out: Path, gens: list[dict], contexts, refs):
    """Write the results JSON and the generations after every row (temp + rename): a run cut
    short keeps what it measured, marked `"complete": false`."""
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(result: dict) -> None:
        atomic_write_text(out, json.dumps(result, indent=2) + "\n")
        atomic_write_text(out.with_name(out.stem + "_generations.jsonl"), "".join(
            json.dumps({**g, "contexts": contexts, "references": refs}) + "\n" for g in gens))
    return save


def best_rows(rows: dict) -> dict:
    """value / baseline_value: the best BLEU-1 of any DiffusionDialog row against the best of
    any baseline row (the strongest same-run baseline, not a chosen setting)."""
    q = "bleu1_plato_nltk_m7"
    out = {}
    for prefix, field in (("diffusiondialog/", "value"), ("baseline/", "baseline_value")):
        keys = [k for k in rows if k.startswith(prefix)]
        if keys:
            best = max(keys, key=lambda k: rows[k][q])
            out[field] = rows[best][q]
            out["metric" if field == "value" else "baseline"] = (
                f"BLEU-1 PLATO m7 (first sample), best row {best}")
    return out


def dominated_by(rows: dict) -> dict[str, list[str]]:
    """Per DiffusionDialog row, the baseline rows at least as good on BLEU-1 and Distinct-2
    (an empty list: the row lies above the baseline's curve somewhere)."""
    q, d = "bleu1_plato_nltk_m7", "distinct2_inter"
    base = {k: v for k, v in rows.items() if k.startswith("baseline/")}
    return {k: [b for b, w in base.items() if w[q] >= v[q] and w[d] >= v[d]]
            for k, v in rows.items() if k.startswith("diffusiondialog/")}


def _header(args, n_train: int, n_val: int, contexts, refs) -> dict:
    """Results-JSON fields (CONTRIBUTING.md). Not a headline: a pilot at this budget."""
    return {
        "paper": "DiffusionDialog (Xiang et al., LREC-COLING 2024, arXiv 2404.06760)",
        "metric": "BLEU-1 PLATO m7 (first sample), best DiffusionDialog row",
        "value": None, "baseline": "same backbone + LoRA without latent, best row",
        "baseline_value": None,
        "config": json.dumps({k: str(v) if isinstance(v, Path) else v
                              for k, v in vars(args).items()}),
        "seed": args.seed, "hardware": f"1-thread CPU ({platform.machine()}), 2-core machine "
        "shared with other jobs (timings are not headline numbers)",
        "command": "python bench/llm_study.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(), "threads": 1,
        "data": {"train": f"dial.dev minus validation: {n_train} pairs",
                 "validation": f"{n_val} pairs (last dialogues of dial.dev)",
                 "test": f"{len(contexts)} contexts sampled from dial.test (seed 0)"},
        "note": "pilot at a CPU budget far below the paper's; not a headline",
    }


if __name__ == "__main__":
    main()
