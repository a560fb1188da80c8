"""``nauf_return-eval``: evaluate M_o and the M_u saved by train; write a results JSON."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from nauf_return import pipeline, runs
from nauf_return.checkpoint import read_tensors
from nauf_return.cli import CONFIG_DIR, guarded, set_threads
from nauf_return.errors import ConfigError
from nauf_return.model import lora_from_cfg
from nauf_return.predictions import ORIGINAL, prediction_rows, write_predictions
from nauf_return.results import write_result
from nauf_return.schema import check as check_schema
from nauf_return.world import build_world


def load_unlearned(cfg, mo, path: Path):
    weights_path = path / "model.safetensors"
    if not weights_path.is_file():
        raise ConfigError(f"eval: no unlearned model at {weights_path}; run nauf_return-train "
                          "with the same output_dir and method first")
    model = copy.deepcopy(mo)
    if cfg.lora.enabled:
        model = lora_from_cfg(model, cfg.lora)
    params = dict(model.named_parameters())
    weights = read_tensors(weights_path, "re-run nauf_return-train with overwrite=true")
    unknown = [k for k in weights if k not in params]
    if unknown:
        raise ConfigError(f"eval: {weights_path} does not match the model config "
                          f"(unexpected weights such as {unknown[:2]})")
    for name, tensor in weights.items():
        params[name].data.copy_(tensor)
    model.eval()
    return model


def run_eval(cfg: DictConfig) -> dict:
    cfg = check_schema(cfg)
    set_threads(int(cfg.threads))
    method = pipeline.validate(cfg)
    out_dir = Path(str(cfg.output_dir))
    if not (out_dir / runs.CONFIG_FILE).is_file():
        raise ConfigError(f"eval: {out_dir} is not a run folder (no {runs.CONFIG_FILE}); run "
                          "nauf_return-train with the same output_dir and overrides first")
    # The model must be the one this config describes; only evaluation settings may differ.
    runs.check_same(out_dir, cfg, ignore=("eval", "results_path"))
    if not (out_dir / "original" / "model.safetensors").is_file() and cfg.injection.enabled:
        raise ConfigError(f"eval: no original model in {out_dir}/original; run train first")
    world = build_world(cfg.data)
    accelerator = pipeline.make_accelerator()
    mo, tokenizer, bench, info = pipeline.original_model(cfg, world, accelerator, out_dir)
    mu = load_unlearned(cfg, mo, out_dir / method.name / "final")
    judge = pipeline.make_judge(cfg)
    original = pipeline.evaluate_model(cfg, mo, tokenizer, bench, world.synthetic, judge)
    unlearned = pipeline.evaluate_model(cfg, mu, tokenizer, bench, world.synthetic, judge)
    comparison = pipeline.compare(original, unlearned, int(cfg.seed))
    path = Path(str(cfg.get("results_path") or out_dir / f"results_{method.name}.json"))
    record = write_result(
        path, metric="average unlearning score (x100)", value=comparison["average_score"],
        baseline="original model (no unlearning)", baseline_value=50.0,
        config=f"experiment={cfg.experiment_name}", seed=int(cfg.seed),
        command="nauf_return-eval " + " ".join(sys.argv[1:]), method=method.name,
        memorisation=info, predictions=str(path.with_suffix(".predictions.jsonl")),
        resolved_config=OmegaConf.to_container(cfg, resolve=True), **comparison)
    write_predictions(path.with_suffix(".predictions.jsonl"),
                      prediction_rows(ORIGINAL, int(cfg.seed), original)
                      + prediction_rows(method.name, int(cfg.seed), unlearned))
    print(json.dumps({k: record[k] for k in ("forget_score", "retain_score", "average_score")}))
    return record


@hydra.main(config_path=CONFIG_DIR, config_name="eval", version_base=None)
def _hydra_main(cfg: DictConfig) -> None:
    guarded(run_eval, cfg)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
