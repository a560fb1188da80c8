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
from diffusiondialog.checkpoint import atomic_write_text, load_checkpoint, read_meta
from diffusiondialog.data import load_dataset
from diffusiondialog.inference import DecodeSettings, Timing, generate
from diffusiondialog.latent import gaussian_kl
from diffusiondialog.metrics import response_suite
from diffusiondialog.model import token_nll

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
    ev = cfg.eval
    torch.set_num_threads(int(ev.threads))
    if int(ev.k) < 1:
        raise ValueError(f"eval.k must be >= 1, got {ev.k}")
    _settings(cfg)  # validate the decode section before loading anything
    checkpoints = {n: p for n, p in ev.checkpoints.items() if p}  # null drops a default entry
    if not checkpoints:
        raise ValueError("eval.checkpoints: expected at least one name: path entry")
    for path in checkpoints.values():
        read_meta(Path(path))  # fails fast, naming the checkpoint, if one is missing
    data = load_dataset(cfg.data.path, cfg.data.format, int(cfg.data.max_context_turns),
                        int(cfg.data.seed), cfg.data.max_conversations)
    if ev.split not in data:
        raise ValueError(f"eval.split must be one of {sorted(data)}, got {ev.split!r}")
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


def summarise(cfg: DictConfig, rows: dict, n_contexts: int) -> dict:
    ev = cfg.eval
    main = next((k for k in rows if "/ddim" in k and "/study/" not in k), None)
    base = next((k for k in rows if k.endswith("/beam") and "ddim" not in k), None)
    value = rows[main]["distinct2_inter"] if main else None
    base_value = rows[base]["distinct2_inter"] if base else None
    result = {
        "paper": PAPER,
        "metric": "distinct2_inter (corpus Distinct-2, bert-uncased words, first sample)",
        "value": value, "baseline": f"BART without latent, beam {ev.decode.beams}" if base
        else None, "baseline_value": base_value,
        "config": f"experiment={cfg.get('experiment_name', 'tiny')} data={cfg.data.path}",
        "seed": int(ev.seed), "hardware": hardware(), "command": str(ev.command),
        "date": datetime.date.today().isoformat(), "threads": torch.get_num_threads(),
        "num_contexts": n_contexts, "k": int(ev.k), "rows": rows,
    }
    if value is None or base_value is None:
        result["note"] = ("value needs a diffusiondialog checkpoint and baseline_value a BART "
                          "checkpoint decoded with beam search in the same run")
    if main and base:
        m, b = rows[main], rows[base]
        result["targets"] = {
            "distinct2_ratio": m["distinct2_inter"] / max(b["distinct2_inter"], 1e-12),
            "distinct2_ratio_target": 1.5,
            "bleu1_relative_drop": 1 - m["bleu1_plato_nltk_m7"] / max(b["bleu1_plato_nltk_m7"],
                                                                      1e-12),
            "bleu1_relative_drop_target": 0.10,
            "unique_per_context": m.get("unique_per_context"),
            "unique_per_context_target": 3.0,
        }
    return result


def write_result(result: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path
