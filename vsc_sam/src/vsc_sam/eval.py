"""Evaluate localisers on one synthetic benchmark (Hydra main): ``vsc_sam-eval experiment=tiny``.

Every localiser sees the identical raw similarity matrices of the same candidate pairs; the
results JSON holds segment µAP (with bootstrap CI over queries), pairwise uAP, boundary errors and
time per pair for each descriptor x localiser, plus the descriptor-track uAP.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from vsc_sam.checkpoint import load_model_weights, read_state
from vsc_sam.config import (
    LOCALISERS,
    ConfigError,
    check_descriptors,
    check_localisers,
    split_config,
)
from vsc_sam.formats import CandidatePair, write_matches
from vsc_sam.localization.dynamic_programming import DynamicProgramming
from vsc_sam.localization.line_decoder import LineDecoder
from vsc_sam.localization.sam_net import SAMPredictor, SAMUNet
from vsc_sam.localization.temporal_network import TemporalNetwork
from vsc_sam.pair_filter import PairFilter, PairFilterConfig, apply_filter, training_pairs
from vsc_sam.pipeline import (
    candidates,
    check_ground_truth_ids,
    describe,
    descriptor_track_uap,
    evaluate_predictions,
    load_split,
    run_localiser,
    similarity_matrices,
    top_pairs,
)
from vsc_sam.sscd import SSCDConfig, check_no_leakage, train_sscd, training_videos

PAPER = "A Similarity Alignment Model for Video Copy Segment Matching (arXiv 2305.15679)"


def build_localisers(cfg: DictConfig, names: list[str]) -> dict:
    localisers = {}
    if "tn" in names:
        localisers["tn"] = TemporalNetwork(**OmegaConf.to_container(cfg.tn))
    if "dp" in names:
        localisers["dp"] = DynamicProgramming(**OmegaConf.to_container(cfg.dp))
    if "sam_post" in names:
        lo, hi = cfg.eval.raw_range
        decoder = LineDecoder()
        localisers["sam_post"] = lambda sim: decoder(np.clip((sim - lo) / (hi - lo), 0, 1))
    sam_checkpoints = {"sam": str(cfg.eval.checkpoint)} if "sam" in names else {}
    sam_checkpoints.update(extra_sam_checkpoints(cfg))
    for name, folder in sam_checkpoints.items():
        model = SAMUNet(**sam_architecture(cfg, folder))
        load_model_weights(folder, model)
        predictor = SAMPredictor(model, tile=int(cfg.eval.tile), overlap=int(cfg.eval.tile) // 4)
        decoder = LineDecoder()
        localisers[name] = lambda sim, p=predictor, d=decoder: d(p(sim))
    return localisers


def sam_architecture(cfg: DictConfig, folder: str) -> dict:
    """The U-Net settings a checkpoint was trained with (its state.json), so checkpoints of
    different widths can be scored side by side; ``cfg.model`` only for checkpoints without."""
    state = read_state(folder) or {}
    stored = state.get("config", {}).get("model")
    return dict(stored) if stored else OmegaConf.to_container(cfg.model, resolve=True)


def extra_sam_checkpoints(cfg: DictConfig) -> dict[str, str]:
    """``eval.extra_sam: {label: folder}``: further SAM-lite checkpoints scored as localisers
    ``sam_<label>`` on the same matrices as the others (e.g. one trained on other descriptors)."""
    extra = cfg.eval.get("extra_sam")
    extra = OmegaConf.to_container(extra, resolve=True) if OmegaConf.is_config(extra) else extra
    extra = {} if extra is None else extra
    if not isinstance(extra, dict):
        raise ConfigError(f"eval.extra_sam: expected a mapping label -> checkpoint, got {extra!r}")
    out = {}
    for label, folder in extra.items():
        name = f"sam_{label}"
        if name in LOCALISERS or not str(label).isidentifier():
            raise ConfigError(
                f"eval.extra_sam.{label}: label must be an identifier not giving {name!r}"
            )
        if read_state(folder) is None:
            raise ConfigError(f"eval.extra_sam.{label}={folder}: no SAM checkpoint (state.json)")
        out[name] = str(folder)
    return out


def experiment_name(cfg: DictConfig) -> str:
    """The experiment config Hydra composed (falls back to ``name`` outside a Hydra run)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get("experiment", cfg.name))
    except ValueError:
        return str(cfg.name)


def hardware() -> str:
    return (
        f"{os.cpu_count()}-core CPU ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), shared with other jobs during measurement"
    )


def write_json(path: Path, payload: dict) -> None:
    """Results JSON, written to a temporary file and renamed (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=1)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
    os.replace(tmp, path)


def dataclass_section(cfg: DictConfig, key: str, cls: type, skip: str):
    """``cls`` built from the config section ``key`` (minus its ``skip`` field); unknown fields
    name the section."""
    fields = {k: v for k, v in OmegaConf.to_container(cfg[key]).items() if k != skip}
    try:
        return cls(**fields)
    except TypeError as error:
        raise ConfigError(f"{key}: {error}") from None


def ensure_sscd(cfg: DictConfig, sscd_cfg: SSCDConfig, train, test) -> tuple[str, dict]:
    """Train the SSCD descriptor on the training split unless ``sscd.checkpoint`` holds one; a
    stored checkpoint whose training ids touch the test split is refused (leakage). Returns the
    folder and its state."""
    folder = str(cfg.sscd.checkpoint)
    test_ids = set(test.queries) | set(test.refs)
    state = read_state(folder)
    if state is None:
        train_sscd(training_videos(train), sscd_cfg, folder, forbidden_ids=test_ids)
        return folder, read_state(folder)
    check_no_leakage(state["config"]["train_video_ids"], test_ids)
    if state["config"]["sscd"] != asdict(sscd_cfg):
        raise ConfigError(
            f"sscd.checkpoint={folder} was trained with {state['config']['sscd']}, but the "
            f"config asks for {asdict(sscd_cfg)}; delete the folder or point sscd.checkpoint "
            "elsewhere"
        )
    print(f"[sscd] using checkpoint {folder} (step {state['step']})", flush=True)
    return folder, state


def fit_pair_filter(
    pf_cfg: PairFilterConfig, train, train_desc, matrices
) -> tuple[dict | None, dict]:
    """Train the pair filter on training-split pairs; copy probabilities of the test pairs."""
    labelled = training_pairs(train, train_desc, pf_cfg.per_query)
    labels = [y for _, y in labelled]
    info = {
        "config": asdict(pf_cfg),
        "n_train_pairs": len(labelled),
        "train_positive_fraction": float(np.mean(labels)) if labels else 0.0,
    }
    if len(set(labels)) < 2:
        info["skipped"] = "training split has a single class"
        return None, info
    pair_filter = PairFilter(pf_cfg)
    losses = pair_filter.fit([train_desc[q] @ train_desc[r].T for (q, r), _ in labelled], labels)
    info["loss_first_last"] = [float(np.mean(losses[:20])), float(np.mean(losses[-20:]))]
    keys = list(matrices)
    probs = dict(zip(keys, pair_filter.predict([matrices[k] for k in keys]).tolist(), strict=True))
    return probs, info


def score(cfg: DictConfig, gts, predictions, query_ids, ms_per_pair: float) -> dict:
    result = evaluate_predictions(
        gts, predictions, query_ids, int(cfg.eval.bootstrap), int(cfg.eval.seed)
    )
    result["ms_per_pair"] = ms_per_pair
    return result


def log_result(label: str, result: dict) -> None:
    print(
        f"{label}: µAP {result['segment_micro_ap']:.4f} CI95 {result['segment_micro_ap_ci95']} "
        f"pair-uAP {result['pairwise_micro_ap']:.4f} {result['ms_per_pair']:.1f} ms/pair",
        flush=True,
    )


def run(cfg: DictConfig) -> dict:
    torch.set_num_threads(int(cfg.threads))
    kinds, names = check_descriptors(cfg), check_localisers(cfg)
    train_split, test_split = split_config(cfg, "train"), split_config(cfg, "test")
    if "sam" in names and read_state(cfg.eval.checkpoint) is None:
        raise ConfigError(
            f"eval.checkpoint={cfg.eval.checkpoint}: no SAM checkpoint; run vsc_sam-train first "
            "or drop 'sam' from eval.localisers"
        )
    if set(
        range(
            train_split.id_offset,
            train_split.id_offset + max(train_split.n_queries, train_split.n_refs),
        )
    ) & set(
        range(
            test_split.id_offset,
            test_split.id_offset + max(test_split.n_queries, test_split.n_refs),
        )
    ):
        raise ConfigError(
            "data.train and data.test id ranges overlap; use distinct id_offset values"
        )
    localisers = build_localisers(cfg, names)
    sscd_cfg = dataclass_section(cfg, "sscd", SSCDConfig, "checkpoint") if "sscd" in kinds else None
    pf_cfg = (
        dataclass_section(cfg, "pair_filter", PairFilterConfig, "enabled")
        if cfg.pair_filter.enabled
        else None
    )
    if cfg.eval.get("value") and str(cfg.eval.value) not in localisers:
        raise ConfigError(
            f"eval.value={cfg.eval.value}: not among the localisers {list(localisers)}"
        )
    train = load_split(train_split, cfg.data.cache_dir)
    test = load_split(test_split, cfg.data.cache_dir)
    check_ground_truth_ids(test)
    gts, query_ids = test.ground_truth, sorted(test.queries)
    # Beside the predictions, so they can be rescored offline (bench/error_decomposition.py).
    write_matches(Path(cfg.output_dir) / "predictions" / "ground_truth.csv", gts)
    report: dict = {"descriptors": {}}
    for kind in kinds:
        model_spec, sscd_state = cfg.descriptor.model_spec, None
        if kind == "sscd":
            model_spec, sscd_state = ensure_sscd(cfg, sscd_cfg, train, test)
        train_desc, test_desc = describe(
            kind,
            train,
            [train, test],
            cfg.descriptor.pca_dim,
            cfg.descriptor.input_size,
            model_spec,
        )
        pairs = candidates(
            train,
            test,
            train_desc,
            test_desc,
            cfg.eval.beta,
            cfg.eval.k_per_query,
            cfg.eval.pairs_per_query,
        )
        chosen = top_pairs(pairs, cfg.eval.localise_per_query)
        gt_pairs = {g.pair_id for g in gts}
        matrices = similarity_matrices(chosen, test_desc)
        entry = {
            "descriptor_uap": descriptor_track_uap(gts, pairs),
            "n_candidate_pairs": len(pairs),
            "n_localised_pairs": len(chosen),
            "gt_pair_recall_of_localised": len(gt_pairs & set(chosen)) / max(len(gt_pairs), 1),
            "localisers": {},
        }
        if sscd_state is not None:
            entry["sscd"] = {
                "checkpoint": str(model_spec),
                "config": sscd_state["config"]["sscd"],
                "n_train_videos": len(sscd_state["config"]["train_video_ids"]),
                "log_first_last": [sscd_state["config"]["log"][0], sscd_state["config"]["log"][-1]],
            }
        probs = None
        if pf_cfg is not None:
            probs, entry["pair_filter"] = fit_pair_filter(pf_cfg, train, train_desc, matrices)
            if probs is not None:
                entry["pair_filter"]["pair_uap_of_localised"] = descriptor_track_uap(
                    gts, [CandidatePair(q, r, p) for (q, r), p in probs.items()]
                )
                entry["pair_filter"]["localisers"] = {}
                print(f"[{kind}] pair filter: {entry['pair_filter']}", flush=True)
        for name, localiser in localisers.items():
            predictions, ms_per_pair = run_localiser(localiser, matrices)
            write_matches(Path(cfg.output_dir) / "predictions" / f"{kind}_{name}.csv", predictions)
            entry["localisers"][name] = score(cfg, gts, predictions, query_ids, ms_per_pair)
            log_result(f"[{kind}] {name}", entry["localisers"][name])
            if probs is not None:
                filtered = apply_filter(predictions, probs, pf_cfg.min_prob)
                result = score(cfg, gts, filtered, query_ids, ms_per_pair)
                entry["pair_filter"]["localisers"][name] = result
                log_result(f"[{kind}] {name} + pair filter", result)
        report["descriptors"][kind] = entry
    head = report["descriptors"][kinds[0]]["localisers"]
    value_name = "sam" if "sam" in head else names[-1]
    if cfg.eval.get("value"):  # checked against eval.localisers before any work (run())
        value_name = str(cfg.eval.value)
    base_name = "tn" if "tn" in head else names[0]
    payload = {
        "paper": PAPER,
        "metric": f"segment micro-AP (official VSC matching metric), synthetic test split, "
        f"{kinds[0]} descriptors, localiser {value_name}",
        "value": head[value_name]["segment_micro_ap"],
        "baseline": f"{base_name} (VCSL Temporal Network)" if base_name == "tn" else base_name,
        "baseline_value": head[base_name]["segment_micro_ap"],
        "config": f"experiment={experiment_name(cfg)} name={cfg.name}",
        "seed": int(test_split.seed),
        "hardware": hardware(),
        "command": cfg.eval.command or f"vsc_sam-eval experiment={cfg.name}",
        "date": datetime.date.today().isoformat(),
        "threads": torch.get_num_threads(),
        "headline": bool(cfg.eval.get("headline", False)),
        "benchmark": {
            "train": OmegaConf.to_container(cfg.data.train),
            "test": OmegaConf.to_container(cfg.data.test),
            "n_test_queries": len(test.queries),
            "n_test_refs": len(test.refs),
            "n_gt_segments": len(gts),
            "generator_version": test.version,
        },
        **report,
    }
    write_json(Path(cfg.eval.output), payload)
    return payload


@hydra.main(version_base="1.3", config_path="../../configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
