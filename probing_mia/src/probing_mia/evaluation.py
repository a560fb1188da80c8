"""Scoring every method on one trained target: black-box attacks (k chosen on dev), the blind
baseline, and the probe (layer chosen on dev) under both standardisations."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from probing_mia import attacks
from probing_mia.activations import last_token_activations
from probing_mia.blind import blind_scores
from probing_mia.config import Config
from probing_mia.corpus import Corpus
from probing_mia.data import (
    Example,
    check_two_classes,
    find_overlap,
    normalise,
    read_jsonl,
    sniff_schema,
)
from probing_mia.metrics import auc
from probing_mia.probe import probe_all_layers
from probing_mia.proxy import finetune_proxy
from probing_mia.scoring import token_stats
from probing_mia.template import wrap_to_fit


def attack_scores(cfg: Config, corpus: Corpus, target, ref, tokenizer, max_length: int) -> dict:
    """name -> {"dev": scores, "test": scores, "k": chosen k or None}."""
    names = cfg.attacks.names
    texts = [e.text for e in corpus.dev + corpus.test]
    n_dev = len(corpus.dev)
    dev_y = [e.label for e in corpus.dev]
    bs = cfg.batch_size
    stats = token_stats(target, tokenizer, texts, max_length, bs)
    raw: dict[str, list[float]] = {}
    if "loss" in names:
        raw["loss"] = [attacks.loss_score(s) for s in stats]
    if "zlib" in names:
        raw["zlib"] = [attacks.zlib_score(s, t) for s, t in zip(stats, texts, strict=True)]
    if "lowercase" in names:
        lower = token_stats(target, tokenizer, [t.lower() for t in texts], max_length, bs)
        raw["lowercase"] = [attacks.lowercase_score(s, lo) for s, lo in zip(stats, lower,
                                                                              strict=True)]
    if "ref" in names and ref is not None:
        ref_stats = token_stats(ref, tokenizer, texts, max_length, bs)
        raw["ref"] = [attacks.ref_score(s, r) for s, r in zip(stats, ref_stats, strict=True)]
    if "neighbor" in names:
        raw["neighbor"] = _neighbor(cfg, corpus, target, tokenizer, texts, stats, max_length)
    out = {name: {"dev": np.array(v[:n_dev]), "test": np.array(v[n_dev:]), "k": None}
           for name, v in raw.items()}
    for name, fn in (("mink", attacks.mink_score), ("minkpp", attacks.minkpp_score)):
        if name in names:
            out[name] = _sweep_k(fn, stats, n_dev, dev_y, cfg.attacks.ks)
    if "blind" in names:
        out["blind"] = {"dev": None, "test": blind_scores(corpus.dev, texts[n_dev:]), "k": None}
    return out


def _neighbor(cfg, corpus, target, tokenizer, texts, stats, max_length) -> list[float]:
    # Vocabulary from the background only: no evaluation text feeds its own neighbours.
    generator = attacks.WordSwapNeighbours(corpus.background, cfg.attacks.neighbour_fraction,
                                           cfg.seed)
    count = cfg.attacks.n_neighbours
    scores = []
    for index, text in enumerate(tqdm(texts, desc="neighbours", mininterval=10)):
        neighbours = token_stats(target, tokenizer, generator(text, index, count), max_length,
                                 count)
        scores.append(attacks.neighbor_score(stats[index], neighbours))
    return scores


def _sweep_k(fn, stats, n_dev: int, dev_y: list[int], ks: list[float]) -> dict:
    """Pick k by dev AUC (ties: the smaller k), then score everything with it."""
    best_k = max(ks, key=lambda k: (auc(dev_y, [fn(s, k) for s in stats[:n_dev]]), -k))
    scores = np.array([fn(s, best_k) for s in stats])
    return {"dev": scores[:n_dev], "test": scores[n_dev:], "k": best_k}


def probe_training_set(cfg: Config, corpus: Corpus) -> list[Example]:
    if cfg.probe.probe_data == "real":
        return corpus.probe_train()
    return read_jsonl(cfg.probe.probe_data, sniff_schema(cfg.probe.probe_data))


def probe_scores(cfg: Config, corpus: Corpus, target, tokenizer, max_length: int) -> dict:
    """Proxy fine-tune + activations + per-layer probes; mode -> ProbeResult, plus overlap."""
    train = probe_training_set(cfg, corpus)
    overlap = find_overlap([e.text for e in train], dev=[e.text for e in corpus.dev],
                           test=[e.text for e in corpus.test])
    if overlap:  # never train the probe on an evaluation text: drop it, and report it
        leaked = {normalise(hit["full_text"]) for hit in overlap}
        train = [e for e in train if normalise(e.text) not in leaked]
        check_two_classes(train, "probe-training set after removing the overlap")

    def wrapped(rows: list[Example]) -> list[str]:
        return [wrap_to_fit(e.text, tokenizer, max_length) for e in rows]

    members = wrapped([e for e in train if e.label == 1])
    proxy, steps = finetune_proxy(target, tokenizer, members, cfg.proxy, max_length, cfg.seed)
    bs = cfg.batch_size
    train_acts = last_token_activations(proxy, tokenizer, wrapped(train), max_length, bs)
    dev_acts = last_token_activations(target, tokenizer, wrapped(corpus.dev), max_length, bs)
    test_acts = last_token_activations(target, tokenizer, wrapped(corpus.test), max_length, bs)
    results = {}
    for mode in cfg.probe.standardisation:
        results[mode] = probe_all_layers(
            train_acts, [e.label for e in train], dev_acts, [e.label for e in corpus.dev],
            test_acts, [e.label for e in corpus.test], cfg.probe, mode, cfg.seed)
    return {"results": results, "overlap": overlap, "proxy_steps": steps}
