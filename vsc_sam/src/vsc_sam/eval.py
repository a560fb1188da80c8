"""Evaluate localisers on one synthetic benchmark (Hydra main): ``vsc_sam-eval experiment=tiny``.

Every localiser sees the identical raw similarity matrices of the same candidate pairs; the
results JSON holds segment µAP (with bootstrap CI over queries), pairwise uAP, boundary errors and
time per pair for each descriptor x localiser, plus the descriptor-track uAP.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from vsc_sam.checkpoint import (
    CheckpointError,
    atomic_text,
    fingerprint,
    load_model_weights,
    read_state,
)
from vsc_sam.config import (
    EVAL_NOT_IDENTITY,
    ConfigError,
    EvalSpec,
    eval_spec,
    guarded,
    resolved,
    split_ids,
    tn_grid,
)
from vsc_sam.formats import CandidatePair, write_matches
from vsc_sam.localization.line_decoder import LineDecoder
from vsc_sam.localization.sam_net import SAMPredictor, SAMUNet
from vsc_sam.metrics import bootstrap_difference
from vsc_sam.pair_filter import PairFilter, PairFilterConfig, apply_filter, training_pairs
from vsc_sam.pipeline import (
    candidates,
    check_ground_truth_ids,
    describe,
    descriptor_track_uap,
    evaluate_predictions,
    load_split,
    lookalike_fraction,
    run_localiser,
    similarity_matrices,
    top_pairs,
)
from vsc_sam.run_folder import (
    RunFolderError,
    check_record,
    claim,
    identity_of,
    provenance,
    recover,
    swap_in,
    write_record,
)
from vsc_sam.sources import shared_sources
from vsc_sam.sscd import SSCDConfig, check_no_leakage, train_sscd, training_videos

RESULT = "result.json"
PAPER = "A Similarity Alignment Model for Video Copy Segment Matching (arXiv 2305.15679)"


def build_localisers(spec: EvalSpec) -> dict:
    names = spec.eval.localisers
    localisers = {}
    if "tn" in names:
        localisers["tn"] = spec.tn
    localisers.update(tn_grid(spec))
    if "dp" in names:
        localisers["dp"] = spec.dp
    if "sam_post" in names:
        lo, hi = spec.eval.raw_range
        decoder = LineDecoder()
        localisers["sam_post"] = lambda sim: decoder(np.clip((sim - lo) / (hi - lo), 0, 1))
    sam_checkpoints = {"sam": spec.eval.checkpoint} if "sam" in names else {}
    sam_checkpoints.update({f"sam_{k}": v for k, v in spec.eval.extra_sam.items()})
    for name, folder in sam_checkpoints.items():
        model = SAMUNet(**sam_architecture(spec, folder))
        load_model_weights(folder, model)
        predictor = SAMPredictor(model, tile=spec.eval.tile, overlap=spec.eval.tile // 4)
        decoder = LineDecoder()
        localisers[name] = lambda sim, p=predictor, d=decoder: d(p(sim))
    return localisers


def input_fingerprints(spec: EvalSpec) -> dict[str, str | None]:
    """Manifest hash of every SAM checkpoint the eval will score (verified, so a torn one fails
    here, before any work)."""
    folders = {"sam": spec.eval.checkpoint} if "sam" in spec.eval.localisers else {}
    folders.update({f"sam_{k}": v for k, v in spec.eval.extra_sam.items()})
    return {name: fingerprint(folder) for name, folder in folders.items()}


def sam_architecture(spec: EvalSpec, folder: str) -> dict:
    """The U-Net settings a checkpoint was trained with (its state.json), so checkpoints of
    different widths can be scored side by side; ``spec.model`` only for checkpoints without."""
    state = read_state(folder) or {}
    stored = state.get("config", {}).get("model")
    return dict(stored) if stored else {"width": spec.model.width, "depth": spec.model.depth}


def write_json(path: Path, payload: dict) -> None:
    """Results JSON, written to a temporary file and renamed (never half-written)."""
    atomic_text(Path(path), json.dumps(payload, indent=1))


def sscd_config(spec: EvalSpec) -> SSCDConfig:
    return SSCDConfig(**{k: getattr(spec.sscd, k) for k in SSCDConfig.__dataclass_fields__})


def pair_filter_config(spec: EvalSpec) -> PairFilterConfig:
    fields = PairFilterConfig.__dataclass_fields__
    return PairFilterConfig(**{k: getattr(spec.pair_filter, k) for k in fields})


def prepare_sscd(spec: EvalSpec) -> None:
    """Claim the SSCD checkpoint folder for this SSCD config and training split before any work:
    another config there is refused (``overwrite=true`` retrains it), a stored checkpoint trained
    on any test video is refused (leakage)."""
    folder = Path(spec.sscd.checkpoint)
    identity = {"sscd": asdict(sscd_config(spec)), "train_split": asdict(spec.data.train)}
    try:
        claim(folder, identity, (), overwrite=False)
    except RunFolderError:
        if not spec.overwrite:
            raise
        claim(folder, identity, (), overwrite=True)
    try:
        state = read_state(folder)
        if state is not None:
            check_no_leakage(state["config"]["train_video_ids"], split_ids(spec.data.test))
    except (CheckpointError, ValueError) as error:
        raise ConfigError(f"sscd.checkpoint={folder}: {error}") from None


def ensure_sscd(spec: EvalSpec, train, test) -> tuple[str, dict]:
    """Train the SSCD descriptor on the training split unless its folder holds a checkpoint of
    this config (``prepare_sscd`` checked which). Returns the folder and its state."""
    folder = spec.sscd.checkpoint
    state = read_state(folder)
    if state is None:
        test_ids = set(test.queries) | set(test.refs)
        train_sscd(training_videos(train), sscd_config(spec), folder, forbidden_ids=test_ids)
        return folder, read_state(folder)
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


def score(spec: EvalSpec, gts, predictions, query_ids, ms_per_pair: float) -> dict:
    result = evaluate_predictions(gts, predictions, query_ids, spec.eval.bootstrap, spec.eval.seed)
    result["ms_per_pair"] = ms_per_pair
    return result


def log_result(label: str, result: dict) -> None:
    print(
        f"{label}: µAP {result['segment_micro_ap']:.4f} CI95 {result['segment_micro_ap_ci95']} "
        f"pair-uAP {result['pairwise_micro_ap']:.4f} {result['ms_per_pair']:.1f} ms/pair",
        flush=True,
    )


def evaluate_descriptor(spec: EvalSpec, kind: str, localisers: dict, train, test, out: Path):
    """Every localiser (and, if enabled, + pair filter) on the same candidate pairs and matrices
    of one descriptor; predictions go to ``out/<kind>_<localiser>.csv``."""
    gts, query_ids = test.ground_truth, sorted(test.queries)
    model_spec, sscd_state = spec.descriptor.model_spec, None
    if kind == "sscd":
        model_spec, sscd_state = ensure_sscd(spec, train, test)
    train_desc, test_desc = describe(
        kind, train, [train, test], spec.descriptor.pca_dim, spec.descriptor.input_size, model_spec
    )
    e = spec.eval
    pairs = candidates(train, test, train_desc, test_desc, e.beta, e.k_per_query, e.pairs_per_query)
    chosen = top_pairs(pairs, e.localise_per_query)
    gt_pairs = {g.pair_id for g in gts}
    matrices = similarity_matrices(chosen, test_desc)
    entry = {
        "descriptor_uap": descriptor_track_uap(gts, pairs),
        "n_candidate_pairs": len(pairs),
        "n_localised_pairs": len(chosen),
        "gt_pair_recall_of_localised": len(gt_pairs & set(chosen)) / max(len(gt_pairs), 1),
        "lookalike_negatives": lookalike_fraction(test, test_desc),
        "localisers": {},
    }
    if sscd_state is not None:
        entry["sscd"] = {
            "checkpoint": str(model_spec),
            "config": sscd_state["config"]["sscd"],
            "n_train_videos": len(sscd_state["config"]["train_video_ids"]),
            "log_first_last": [sscd_state["config"]["log"][0], sscd_state["config"]["log"][-1]],
        }
    probs, pf_cfg = None, pair_filter_config(spec) if spec.pair_filter.enabled else None
    if pf_cfg is not None:
        probs, entry["pair_filter"] = fit_pair_filter(pf_cfg, train, train_desc, matrices)
        if probs is not None:
            entry["pair_filter"]["pair_uap_of_localised"] = descriptor_track_uap(
                gts, [CandidatePair(q, r, p) for (q, r), p in probs.items()]
            )
            entry["pair_filter"]["localisers"] = {}
            print(f"[{kind}] pair filter: {entry['pair_filter']}", flush=True)
    by_name = {}
    for name, localiser in localisers.items():
        predictions, ms_per_pair = run_localiser(localiser, matrices)
        by_name[name] = predictions
        write_matches(out / f"{kind}_{name}.csv", predictions)
        entry["localisers"][name] = score(spec, gts, predictions, query_ids, ms_per_pair)
        log_result(f"[{kind}] {name}", entry["localisers"][name])
        if probs is not None:
            filtered = apply_filter(predictions, probs, pf_cfg.min_prob)
            result = score(spec, gts, filtered, query_ids, ms_per_pair)
            entry["pair_filter"]["localisers"][name] = result
            log_result(f"[{kind}] {name} + pair filter", result)
    entry["minus_tn"] = {  # paired bootstrap over queries: each SAM-lite checkpoint - TN
        name: bootstrap_difference(gts, preds, by_name["tn"], query_ids, e.bootstrap, e.seed)
        for name, preds in by_name.items()
        if "tn" in by_name and (name == "sam" or (name.startswith("sam_") and name != "sam_post"))
    }
    return entry


def make_payload(spec: EvalSpec, config: dict, test, report: dict) -> dict:
    kinds, names = spec.descriptors, spec.eval.localisers
    head = report[kinds[0]]["localisers"]
    value_name = spec.eval.value or ("sam" if "sam" in head else names[-1])
    base_name = "tn" if "tn" in head else names[0]
    return {
        "paper": PAPER,
        "metric": f"segment micro-AP (official VSC matching metric), synthetic test split, "
        f"{kinds[0]} descriptors, localiser {value_name}",
        "value": head[value_name]["segment_micro_ap"],
        "baseline": f"{base_name} (VCSL Temporal Network)" if base_name == "tn" else base_name,
        "baseline_value": head[base_name]["segment_micro_ap"],
        "seed": spec.data.test.seed,
        **provenance(config, EVAL_NOT_IDENTITY),
        # the config as composed; the run-folder identity (config_hash) adds these fingerprints
        "config": {k: v for k, v in config.items() if k != "input_checkpoints"},
        "input_checkpoints": config["input_checkpoints"],
        "threads": torch.get_num_threads(),
        "headline": spec.eval.headline,
        "tn_grid": {name: asdict(tn) for name, tn in tn_grid(spec).items()},
        "benchmark": {
            "train": asdict(spec.data.train),
            "test": asdict(spec.data.test),
            "n_test_queries": len(test.queries),
            "n_test_refs": len(test.refs),
            "n_gt_segments": len(test.ground_truth),
            "generator_version": test.version,
            # whole visual sources shared by the training and the test split (none when the
            # two use disjoint pools, sources.POOLS)
            "shared_sources": shared_sources(
                spec.data.train.source_pool, spec.data.test.source_pool
            ),
        },
        "descriptors": report,
    }


def run(cfg: DictConfig) -> dict:
    spec = eval_spec(cfg)  # every key, type, range and input checkpoint checked before any work
    torch.set_num_threads(spec.threads)
    # The identity of an eval run includes the fingerprints of the SAM checkpoints it scores, so
    # a retrained checkpoint is never reported with an old result.
    config = {**resolved(cfg), "input_checkpoints": input_fingerprints(spec)}
    run_dir = Path(spec.eval.run_dir)
    recover(run_dir)
    if not spec.overwrite and check_record(run_dir, config, EVAL_NOT_IDENTITY):
        payload = {**json.loads((run_dir / RESULT).read_text()), "headline": spec.eval.headline}
        write_json(Path(spec.eval.output), payload)
        print(f"[eval] {run_dir} already holds this config's result; published {spec.eval.output}")
        return payload
    if "sscd" in spec.descriptors:
        prepare_sscd(spec)
    localisers = build_localisers(spec)
    train = load_split(spec.data.train, spec.data.cache_dir)
    test = load_split(spec.data.test, spec.data.cache_dir)
    check_ground_truth_ids(test)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}.tmp-"))
    try:
        # Ground truth beside the predictions, so they can be rescored offline.
        write_matches(stage / "predictions" / "ground_truth.csv", test.ground_truth)
        report = {
            kind: evaluate_descriptor(spec, kind, localisers, train, test, stage / "predictions")
            for kind in spec.descriptors
        }
        payload = make_payload(spec, config, test, report)
        write_record(stage, config, identity_of(config, EVAL_NOT_IDENTITY))
        write_json(stage / RESULT, payload)
        swap_in(stage, run_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    write_json(Path(spec.eval.output), payload)
    return payload


@hydra.main(version_base="1.3", config_path="../../configs", config_name="eval")
def main(cfg: DictConfig) -> None:
    guarded(run, cfg)


if __name__ == "__main__":
    main()
