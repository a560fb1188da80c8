"""Decode a split with each checkpoint and compare DiffusionDialog with the BART baseline."""

from __future__ import annotations

import datetime
import json
import platform
import random
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from diffusiondialog.batching import collate
from diffusiondialog.checkpoint import atomic_write_text, load_checkpoint, verify
from diffusiondialog.data import load_dataset
from diffusiondialog.inference import DecodeSettings, Timing, generate
from diffusiondialog.latent import gaussian_kl
from diffusiondialog.metrics import response_suite
from diffusiondialog.model import token_nll
from diffusiondialog.schema import ConfigError, validated

PAPER = "DiffusionDialog (Xiang et al., LREC-COLING 2024, arXiv 2404.06760)"


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return (f"{torch.get_num_threads()}-thread CPU ({platform.machine()}), 2-core machine "
            "shared with other jobs during measurement")


def decode_rows(model, tok, contexts, refs, k: int, settings: DecodeSettings, seed: int,
                max_source: int, batch_size: int) -> dict:
    timing = Timing()
    samples = generate(model, tok, contexts, k, settings, seed, max_source, batch_size, timing)
    row = response_suite(samples, refs)
    row.update(timing.per_response())
    row["examples"] = [{"context": c[-2:], "reference": r, "samples": s}
                       for c, r, s in zip(contexts[:3], refs[:3], samples[:3], strict=True)]
    return row


def _gold_setup(model, tok, pairs, max_source: int, max_target: int
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor, Callable[[torch.Tensor], float]]:
    """The gold batch, its encoded contexts, and latent (B, slots, d) -> mean token NLL of the
    gold responses, shared by both diagnostics."""
    batch = collate(tok, pairs, max_source, max_target, model.spec.max_turn)
    enc = model.encode_context(batch["context_ids"], batch["context_mask"], batch["roles"],
                               batch["turns"])

    def nll(latent: torch.Tensor) -> float:
        logits = model.decode_logits(batch["decoder_input_ids"], enc, batch["context_mask"],
                                     latent)
        return token_nll(logits, batch["labels"]).mean().item()
    return batch, enc, nll


@torch.no_grad()
def latent_diagnostics(model, tok, pairs, max_source: int, max_target: int) -> dict:
    """Does the decoder use the latent? Token NLL of the gold response given its own posterior
    latent z0, given another example's z0 (shuffled), and the spread of z0 across examples
    (collapse monitor). own < shuffled means the latent carries response information."""
    batch, _, nll = _gold_setup(model, tok, pairs, max_source, max_target)
    z0 = model.encode_latent(batch["decoder_input_ids"], batch["decoder_mask"])
    return {"nll_own_z0": nll(z0), "nll_shuffled_z0": nll(z0.roll(1, dims=0)),
            "z0_var_across_examples": z0.var(dim=0).mean().item(), "pairs": len(pairs)}


@torch.no_grad()
def cvae_diagnostics(model, tok, pairs, max_source: int, max_target: int) -> dict:
    """CVAE counterpart of `latent_diagnostics`: NLL of the gold response given its own
    posterior mean, another example's posterior mean, and the prior mean; mean KL(q || p) and
    the spread of the posterior means (KL collapse shows as KL ~ 0 and equal NLLs)."""
    batch, enc, decoder_nll = _gold_setup(model, tok, pairs, max_source, max_target)
    mask = batch["context_mask"]
    mu_q, logvar_q = model.posterior(enc, mask, batch["decoder_input_ids"],
                                     batch["decoder_mask"])
    mu_p, logvar_p = model.gaussian.prior(enc, mask)

    def nll(z: torch.Tensor) -> float:
        return decoder_nll(model.gaussian.to_decoder(z))
    kl = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
    return {"nll_own_posterior_mean": nll(mu_q), "nll_shuffled_posterior_mean":
            nll(mu_q.roll(1, dims=0)), "nll_prior_mean": nll(mu_p),
            "kl_mean": kl.sum(-1).mean().item(),
            "active_dims_kl_gt_0.01": int((kl.mean(0) > 0.01).sum().item()),
            "posterior_mean_var_across_examples": mu_q.var(dim=0).mean().item(),
            "prior_std_mean": torch.exp(0.5 * logvar_p).mean().item(), "pairs": len(pairs)}


def _settings(cfg: DictConfig, **over) -> DecodeSettings:
    base = OmegaConf.to_container(cfg.eval.decode, resolve=True)
    base.update(over)
    return DecodeSettings(**base)


def evaluate(cfg: DictConfig) -> dict:
    cfg = validated(cfg)  # typed schema: unknown keys, types and ranges, before any work
    ev = cfg.eval
    torch.set_num_threads(int(ev.threads))
    checkpoints = {n: p for n, p in ev.checkpoints.items() if p}  # null drops a default entry
    if not checkpoints:
        raise ConfigError("eval.checkpoints: expected at least one name: path entry")
    for path in checkpoints.values():
        verify(Path(path))  # fails fast, naming the file, if a checkpoint is missing or torn
    data = load_dataset(cfg.data.path, cfg.data.format, int(cfg.data.max_context_turns),
                        int(cfg.data.seed), cfg.data.max_conversations)
    pairs = data[ev.split]
    pairs = random.Random(int(ev.seed)).sample(pairs, min(int(ev.num_contexts), len(pairs)))
    contexts, refs = [list(p.context) for p in pairs], [p.response for p in pairs]
    rows: dict[str, dict] = {}
    common = dict(refs=refs, seed=int(ev.seed), max_source=int(cfg.data.max_source),
                  batch_size=int(ev.batch_size))
    for name, path in checkpoints.items():
        model, tok, meta = load_checkpoint(path, ev.tokenizer)
        model.eval()
        if model.spec.use_latent:
            gaussian = model.spec.latent_type == "gaussian"
            diag_fn = cvae_diagnostics if gaussian else latent_diagnostics
            diag = diag_fn(model, tok, pairs[:64], int(cfg.data.max_source),
                           int(cfg.data.max_target))
            s = _settings(cfg)
            key = f"{name}/{'prior' if gaussian else f'ddim{s.ddim_steps}'}-{s.method}"
            rows[key] = decode_rows(model, tok, contexts, k=int(ev.k), settings=s, **common)
            rows[key]["latent_diagnostics"] = diag
            for steps in ([] if gaussian else ev.ddim_study):
                for spacing in ("stride", "trailing"):
                    s = _settings(cfg, ddim_steps=int(steps), spacing=spacing,
                                  method=str(ev.study_method))
                    rows[f"{name}/study/ddim{steps}-{spacing}-{s.method}"] = decode_rows(
                        model, tok, contexts, k=int(ev.k), settings=s, **common)
        else:
            for method in ev.baseline_decodes:
                # Beam search is deterministic: K copies would be identical, so decode once.
                k = 1 if method in ("beam", "greedy") else int(ev.k)
                rows[f"{name}/{method}"] = decode_rows(
                    model, tok, contexts, k=k, settings=_settings(cfg, method=method), **common)
        rows_meta = {"step": meta["step"], "params": sum(p.numel() for p in model.parameters())}
        for key in rows:
            if key.startswith(name + "/"):
                rows[key].setdefault("checkpoint", {"path": str(path), **rows_meta})
    return summarise(cfg, rows, len(contexts))


HEADLINE_METRIC = "distinct2_inter"
QUALITY_METRIC = "bleu1_plato_nltk_m7"


def _is_method_row(key: str) -> bool:
    return "/ddim" in key and "/study/" not in key


def _is_baseline_row(key: str) -> bool:
    return "ddim" not in key and "/prior" not in key


def headline_fields(rows: dict, top_p: float) -> dict:
    """metric/value/baseline/baseline_value/targets from the decoded rows of one run.

    The baseline is the *strongest* same-run baseline row (issue 21): the one with the highest
    Distinct-2, ties broken by BLEU-1. Comparing against beam search alone flattered the method
    (beam answers almost every context with one generic string). Every baseline row is compared
    in `targets.per_baseline`; `dominated_by` lists the baselines at least as good on BLEU-1
    *and* Distinct-2, i.e. where the method is not better at all.
    """
    main = next((k for k in rows if _is_method_row(k)), None)
    bases = [k for k in rows if _is_baseline_row(k)]
    strongest = max(bases, key=lambda k: (rows[k][HEADLINE_METRIC], rows[k][QUALITY_METRIC]),
                    default=None)
    out: dict = {
        "metric": f"{HEADLINE_METRIC} (corpus Distinct-2, bert-uncased words, first sample)",
        "value": rows[main][HEADLINE_METRIC] if main else None,
        "baseline": f"strongest same-run baseline: {_baseline_name(strongest, top_p)}" if strongest
        else None,
        "baseline_value": rows[strongest][HEADLINE_METRIC] if strongest else None,
    }
    if main and strongest:
        m = rows[main]
        per = {}
        for key in bases:
            b = rows[key]
            per[key] = {
                "distinct2_ratio": m[HEADLINE_METRIC] / max(b[HEADLINE_METRIC], 1e-12),
                "bleu1_relative_drop": 1 - m[QUALITY_METRIC] / max(b[QUALITY_METRIC], 1e-12),
                "method_better_on_distinct2": m[HEADLINE_METRIC] > b[HEADLINE_METRIC],
                "method_better_on_bleu1": m[QUALITY_METRIC] > b[QUALITY_METRIC],
            }
        out["targets"] = {
            "method_row": main, "strongest_baseline_row": strongest,
            "per_baseline": per,
            "dominated_by": [k for k, v in per.items()
                             if not v["method_better_on_distinct2"]
                             and not v["method_better_on_bleu1"]],
            "unique_per_context": m.get("unique_per_context"),
        }
        if strongest in out["targets"]["dominated_by"]:
            out["baseline"] += " (better than DiffusionDialog on both BLEU-1 and Distinct-2)"
    return out


def _baseline_name(key: str, top_p: float) -> str:
    name, method = key.split("/", 1)
    label = "BART without latent" if name == "bart" else f"{name} without latent"
    return f"{label}, {method}" + (f" p={top_p:g}" if method == "nucleus" else "")


def summarise(cfg: DictConfig, rows: dict, n_contexts: int) -> dict:
    ev = cfg.eval
    head = headline_fields(rows, float(ev.decode.top_p))
    result = {
        "paper": PAPER, **{k: head[k] for k in ("metric", "value", "baseline",
                                                "baseline_value")},
        "config": f"experiment={cfg.get('experiment_name', 'tiny')} data={cfg.data.path}",
        "seed": int(ev.seed), "hardware": hardware(), "command": str(ev.command),
        "date": datetime.date.today().isoformat(), "threads": torch.get_num_threads(),
        "num_contexts": n_contexts, "k": int(ev.k), "rows": rows,
        "resolved_config": OmegaConf.to_container(cfg, resolve=True),
    }
    if head["value"] is None or head["baseline_value"] is None:
        result["note"] = ("value needs a diffusiondialog checkpoint and baseline_value a "
                          "baseline checkpoint decoded in the same run")
    if "targets" in head:
        result["targets"] = head["targets"]
    return result


def write_result(result: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path
