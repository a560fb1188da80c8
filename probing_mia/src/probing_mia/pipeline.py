"""The two stages behind the console scripts, the demo and the bench.

``train_target``: corpus split -> BPE tokenizer -> target (B ∪ dup × M) and the true reference
(B only), or, for setting 2, SmolLM2 with members injected by continued pre-training.
``evaluate``: proxy + per-layer probes and every black-box attack on the target's dev / test.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from probing_mia import config as config_mod
from probing_mia import run_folder
from probing_mia.config import Config
from probing_mia.corpus import Corpus, build_corpus
from probing_mia.errors import ConfigError
from probing_mia.model import decoder_layers, load_model, tiny_llama
from probing_mia.probe import check_layer
from probing_mia.tokenizer import train_bpe
from probing_mia.training import train_lm, world

TINY = "tiny-llama"


def base_model(cfg: Config, corpus: Corpus, out: Path):
    """The untrained starting point and its tokenizer (trained once, stored in the run)."""
    if cfg.model.spec != TINY:
        return load_model(cfg.model.spec)
    tok_dir = out / "tokenizer"
    if (tok_dir / "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tok_dir))
    else:
        # Trained on the target's own training texts (B ∪ M), never on N / P / Q.
        tokenizer = train_bpe(corpus.target_texts(1), cfg.model.vocab_size)
        if world()[0] == 0:
            tmp = out / ".tokenizer.tmp"
            tokenizer.save_pretrained(str(tmp))
            tmp.replace(tok_dir)
    return tiny_llama(cfg.model, len(tokenizer), cfg.seed), tokenizer


def train_target(cfg: Config, out: Path, stop_at: int | None = None) -> dict:
    """Train target (and reference) into ``out``; resumable; returns the training summary."""
    corpus = build_corpus(cfg.corpus)
    c_hash = run_folder.config_hash(cfg)
    model, tokenizer = base_model(cfg, corpus, out)
    texts = corpus.target_texts(cfg.corpus.duplication, cfg.corpus.train_background)
    summary = {"target": train_lm(model, tokenizer, texts, cfg.trainer, cfg.model.max_length,
                                  out / "target", cfg.seed, c_hash, stop_at, "target")}
    if cfg.trainer.train_ref and "ref" in cfg.attacks.names and cfg.corpus.train_background:
        ref, _ = base_model(cfg, corpus, out)
        summary["ref"] = train_lm(ref, tokenizer, corpus.background, cfg.trainer,
                                  cfg.model.max_length, out / "ref", cfg.seed + 1, c_hash,
                                  stop_at, "ref")
    summary["corpus"] = {k: len(getattr(corpus, k)) for k in
                         ("background", "members", "nonmembers", "pseudo_members",
                          "pseudo_nonmembers", "dev", "test")}
    return summary


def load_trained(target_dir: Path) -> tuple[Config, Corpus, torch.nn.Module, object, object]:
    """(train config, corpus, target, reference or None, tokenizer) of a finished train run."""
    recorded = target_dir / run_folder.CONFIG_FILE
    if not recorded.is_file():
        raise ConfigError(f"target_dir={target_dir}: no {run_folder.CONFIG_FILE}; expected a "
                          "finished probing_mia-train run folder")
    train_cfg = config_mod.load(yaml.safe_load(recorded.read_text()))
    final = target_dir / "target" / "final"
    if not (final / "model.safetensors").is_file():
        raise ConfigError(f"{final}: no trained target; finish `probing_mia-train "
                          f"out_dir={target_dir}` first (it resumes)")
    target, tokenizer = load_model(str(final))
    ref = None
    ref_final = target_dir / "ref" / "final"
    if (ref_final / "model.safetensors").is_file():
        ref, _ = load_model(str(ref_final))
    elif train_cfg.model.spec != TINY:
        ref, _ = load_model(train_cfg.model.spec)  # setting 2: the model before injection
    return train_cfg, build_corpus(train_cfg.corpus), target, ref, tokenizer


def load_benchmark(cfg: Config) -> tuple[Corpus, torch.nn.Module, object]:
    """(corpus view, target, tokenizer) for benchmark-label evaluation of ``model.spec``."""
    from probing_mia.data import read_jsonl, sniff_schema

    dev = read_jsonl(cfg.benchmark.dev, sniff_schema(cfg.benchmark.dev))
    test = read_jsonl(cfg.benchmark.test, sniff_schema(cfg.benchmark.test))
    probe = read_jsonl(cfg.probe.probe_data, sniff_schema(cfg.probe.probe_data))
    target, tokenizer = load_model(cfg.model.spec)
    # Neighbour words come from the probe-training texts: never from dev / test themselves.
    corpus = Corpus([e.text for e in probe], [], [], [], [], dev, test)
    return corpus, target, tokenizer


def write_json(path: Path, payload: dict) -> None:
    run_folder.write_atomic(path, json.dumps(payload, indent=1, default=float))


def evaluate(cfg: Config, out: Path) -> dict:
    """Probe + attacks on the finished train run ``cfg.target_dir``; writes results.json,
    scores.jsonl and roc.png into ``out`` and returns the results."""
    from probing_mia import metrics, report
    from probing_mia.evaluation import attack_scores, probe_scores

    if cfg.benchmark.dev is not None:
        corpus, target, tokenizer = load_benchmark(cfg)
        train_cfg, ref = cfg, None
    elif cfg.target_dir is None:
        raise ConfigError("target_dir: required by evaluation (a probing_mia-train run folder)")
    else:
        train_cfg, corpus, target, ref, tokenizer = load_trained(Path(cfg.target_dir))
    max_length = train_cfg.model.max_length
    # A fixed probe.layer must exist in this model: refuse before the proxy and activations.
    check_layer(cfg.probe.layer, len(decoder_layers(target)))
    torch.manual_seed(cfg.seed)
    probe_out = probe_scores(cfg, corpus, target, tokenizer, max_length)
    attack_out = attack_scores(cfg, corpus, target, ref, tokenizer, max_length)
    fprs = list(cfg.metrics.fprs)
    table = report.method_table(attack_out, probe_out, corpus, cfg.metrics.bootstrap, fprs,
                                cfg.seed)
    scores = report.scores_by_method(attack_out, probe_out)
    test_y = [e.label for e in corpus.test]
    baseline = report.best_attack(table)
    comparisons = {f"{name}_minus_{baseline}": metrics.paired_difference(
        test_y, scores[name], scores[baseline], cfg.metrics.bootstrap, cfg.seed)
        for name in scores if name.startswith("probe_")}
    report.write_raw_scores(out / "scores.jsonl", corpus, scores)
    report.roc_png(out / "roc.png", test_y, scores,
                   f"dup={train_cfg.corpus.duplication}, {train_cfg.model.spec}")
    results = {"methods": table, "best_attack_by_dev": baseline, "comparisons": comparisons,
               "overlap_removed": probe_out["overlap"], "proxy_steps": probe_out["proxy_steps"],
               "duplication": train_cfg.corpus.duplication, "train_config_hash":
               run_folder.config_hash(train_cfg), "n_dev": len(corpus.dev),
               "n_test": len(corpus.test),
               "labels": "benchmark (temporal)" if cfg.benchmark.dev else "exact membership"}
    write_json(out / "results.json", results)
    return results
