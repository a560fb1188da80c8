"""Perplexity of SmolLM2-135M-Instruct with weight-only quantized linear layers: one int8-stored
double-rounding model read at {8,6,4,3} bits vs round-to-nearest quantized separately per bit
(per-channel scales both), on the fixed held-out text of `double_rounding.llm_text`.

    python bench/llm_ppl.py [--init absmax|mse] [--qat-steps N] [--tokens N]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch

from double_rounding.llm import (
    EMBEDDED_SPEC,
    calibration_loss,
    load_causal_lm,
    perplexity,
    quantize_linears,
    scale_qat,
    set_bits,
    tokenize,
)
from double_rounding.llm_text import CALIBRATION, HELDOUT
from double_rounding.study import hardware, write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=EMBEDDED_SPEC)
    ap.add_argument("--bits", type=int, nargs="+", default=[8, 6, 4, 3])
    ap.add_argument("--init", choices=("absmax", "mse"), default="absmax")
    ap.add_argument("--rule", default="half_up")
    ap.add_argument("--tokens", type=int, default=None, help="held-out token budget (all)")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--qat-steps", type=int, default=0, help="scale-only QAT steps (0: skip)")
    ap.add_argument("--qat-lr", type=float, default=1e-3)
    ap.add_argument("--qat-seq-len", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/bench_llm.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()

    model, tok = load_causal_lm(args.model)
    heldout = tokenize(tok, HELDOUT, args.tokens)
    calib = tokenize(tok, CALIBRATION)
    if args.tokens and heldout.numel() < args.tokens:
        print(f"note: held-out text has only {heldout.numel()} tokens (< --tokens {args.tokens})")
    rows = [{"scheme": "fp32", "bits": 32, **perplexity(model, heldout, args.seq_len)}]
    print(rows[-1], flush=True)
    fp_state = {k: v.clone() for k, v in model.state_dict().items()}

    for scheme in ("double_rounding", "rtn"):
        model.load_state_dict(fp_state)
        t = time.time()
        quantize_linears(model, args.bits, scheme=scheme, rule=args.rule, init=args.init)
        init_s = time.time() - t
        for b in args.bits:
            set_bits(model, b)
            rows.append({"scheme": scheme, "bits": b, **perplexity(model, heldout, args.seq_len)})
            print(rows[-1], flush=True)
        if scheme == "double_rounding" and args.qat_steps > 0:
            t = time.time()
            before = calibration_loss(model, calib, args.bits, args.qat_seq_len)
            qat = scale_qat(model, calib, args.bits, args.qat_steps, args.qat_seq_len,
                            lr=args.qat_lr, seed=args.seed)
            after = calibration_loss(model, calib, args.bits, args.qat_seq_len)
            qat_info = {"steps": args.qat_steps, "lr": args.qat_lr, "seq_len": args.qat_seq_len,
                        "calibration_loss_sum_before": before,
                        "calibration_loss_sum_after": after, "seconds": time.time() - t,
                        "loss_history": qat["loss_history"]}
            for b in args.bits:
                set_bits(model, b)
                rows.append({"scheme": "double_rounding+scale_qat", "bits": b,
                             **perplexity(model, heldout, args.seq_len)})
                print(rows[-1], flush=True)
        rows_init = {"scheme": scheme, "scale_init_seconds": init_s}
        print(rows_init, flush=True)
        # unwrap for the next scheme: reload a fresh model (QuantLinear replaced the Linears)
        model, _ = load_causal_lm(args.model)

    def ppl(scheme: str, b: int) -> float:
        return next(r["ppl"] for r in rows if r["scheme"] == scheme and r["bits"] == b)

    low = min(b for b in args.bits if b >= 4) if any(b >= 4 for b in args.bits) else args.bits[-1]
    result = {
        "paper": "Double Rounding (Nearly Lossless Adaptive Bit Switching, arXiv 2502.01199), "
                 "LLM extension of this repository",
        "metric": f"held-out perplexity at w{low} (weight-only, all linear layers but lm_head), "
                  "one int8-stored double-rounding model",
        "value": round(ppl("double_rounding", low), 4),
        "baseline": f"round-to-nearest quantized separately per bit from fp32 (w{low})",
        "baseline_value": round(ppl("rtn", low), 4),
        "config": {
            "model": args.model, "bits": args.bits, "scale_init": args.init,
            "granularity": "per output channel", "tie_rule": args.rule,
            "quantized": "every nn.Linear except lm_head (embeddings, norms, lm_head in fp32)",
            "text": "double_rounding.llm_text.HELDOUT (original English prose written for this "
                    "repo), BOS + first tokens", "tokens_budget": args.tokens,
            "tokens_scored": rows[0]["tokens"], "seq_len": args.seq_len,
            "qat": qat_info if args.qat_steps > 0 else None,
        },
        "seed": args.seed, "threads": args.threads, "hardware": hardware(args.threads),
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat(),
        "seconds": round(time.time() - t0, 1),
        "table": rows,
    }
    write_result(Path(args.out), result)
    print(f"{'bits':>5} " + " ".join(f"{s:>26}" for s in dict.fromkeys(r["scheme"] for r in rows)))
    for b in [32, *args.bits]:
        cells = []
        for s in dict.fromkeys(r["scheme"] for r in rows):
            v = [r["ppl"] for r in rows if r["scheme"] == s and r["bits"] == b]
            cells.append(f"{v[0]:26.3f}" if v else f"{'':>26}")
        print(f"{b:>5} " + " ".join(cells))
    print(f"wrote {args.out} in {result['seconds']} s")


if __name__ == "__main__":
    main()
