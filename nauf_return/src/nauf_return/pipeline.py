"""The experiment, stage by stage: world -> original model M_o -> unlearned M_u -> evaluation.

``train.py``, ``eval.py`` and the benchmarks are thin wrappers over these functions, so the
demo, the bench and the tests all run the same code.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import save_file, save_model

from nauf_return.augmentation import augment, template_pool
from nauf_return.checkpoint import load_weights
from nauf_return.errors import ConfigError
from nauf_return.evaluation import (
    SetResult,
    evaluate_persons,
    memorised,
    obfuscated,
)
from nauf_return.inference import generate_answers
from nauf_return.judge import build_judge
from nauf_return.losses import Method, parse_method
from nauf_return.metrics import bootstrap_average_ci, mean_ci, unlearning_scores
from nauf_return.model import load_model, lora_from_cfg, tiny_llama, word_tokenizer
from nauf_return.prompting import PromptFormat
from nauf_return.records import atomic_write_text
from nauf_return.schema import check as check_schema
from nauf_return.splits import Benchmark, write_benchmark
from nauf_return.synthetic import held_out_paraphrases
from nauf_return.templates import load_templates
from nauf_return.training import (
    LoopConfig,
    SFTDataset,
    build_unlearning_dataset,
    run_loop,
    sft_step,
    unlearning_step,
)
from nauf_return.world import World, filter_bench

TINY = "tiny-llama"


def validate(cfg: DictConfig) -> Method:
    """Checks that need no model: fail before any expensive work. ``cfg`` must already be
    the typed config of :func:`nauf_return.schema.check` (entry points call it first)."""
    check_schema(cfg)
    for m in cfg.methods:
        parse_method(m)
    for m in cfg.method_lr:
        parse_method(m)
    load_templates(cfg.templates.refusal, "refusal")
    load_templates(cfg.templates.idk, "idk")
    LoopConfig(**_loop_kwargs(cfg.trainer, int(cfg.seed)))
    LoopConfig(**_loop_kwargs(cfg.injection, int(cfg.seed)))
    return parse_method(cfg.method)


def _loop_kwargs(section, seed: int) -> dict:
    keys = LoopConfig.__dataclass_fields__
    return {k: v for k, v in OmegaConf.to_container(section).items() if k in keys} | {"seed": seed}


def make_accelerator() -> Accelerator:
    return Accelerator(cpu=not torch.cuda.is_available())


def prompt_format(cfg) -> PromptFormat:
    system = cfg.prompt.get("system")
    return PromptFormat(instruction=str(cfg.prompt.instruction),
                        max_length=int(cfg.prompt.max_length),
                        system=None if system is None else str(system))


def _vocabulary_texts(world: World, cfg) -> list[str]:
    texts = [str(cfg.prompt.instruction), "Tell me about", "this person", "I have a few "
             "questions about", "Sure, go ahead."]
    texts += load_templates(cfg.templates.refusal, "refusal")
    texts += load_templates(cfg.templates.idk, "idk")
    for p in world.known:
        texts += [p.name] + [t for qa in p.qas for t in (qa.question, qa.answer)] + p.biographies
        if world.synthetic:
            texts += [qa.question for qa in held_out_paraphrases(p).qas]
    return texts


def base_model(cfg, world: World):
    spec = str(cfg.model.spec)
    if spec == TINY:
        tokenizer = word_tokenizer(_vocabulary_texts(world, cfg))
        model = tiny_llama(tokenizer, int(cfg.model.hidden), int(cfg.model.layers),
                           int(cfg.model.heads), int(cfg.seed))
        return model, tokenizer
    return load_model(spec)


def _eval_kwargs(cfg) -> dict:
    return {"batch_size": int(cfg.eval.batch_size),
            "max_new_tokens": int(cfg.eval.max_new_tokens)}


def make_judge(cfg):
    """The configured judge; its refusal detector knows every refusal *and* IDK template the
    methods of this config train on (issue 12: the IDK file was missing)."""
    j = cfg.eval.judge
    templates = (load_templates(cfg.templates.refusal, "refusal")
                 + load_templates(cfg.templates.idk, "idk"))
    return build_judge(str(j.kind), templates, threshold=float(j.threshold), model=j.model,
                       min_coverage=float(j.min_coverage), secondary=str(j.secondary),
                       secondary_threshold=float(j.secondary_threshold))


def inject_knowledge(cfg, model, tokenizer, world: World, accelerator, out_dir: Path | None):
    """Fine-tune until the memorisation filter passes (TOFU protocol for M_o)."""
    inj = cfg.injection
    fmt = prompt_format(cfg)
    judge = make_judge(cfg)
    main = world.bench.forget_train + world.bench.retain_train
    names = {p.name for p in main}
    check = [p for p in world.known if p.name in names]
    use_lora = bool(inj.get("lora", False))
    if use_lora:
        model = lora_from_cfg(model, cfg.lora, dropout=0.0)
    dataset = SFTDataset(world.known, tokenizer, fmt, bool(inj.get("biographies", True)))
    loop = LoopConfig(**_loop_kwargs(inj, int(cfg.seed)))
    every = int(inj.check_every)
    first = int(inj.get("check_from", 0))  # skip the (generation-heavy) checks before this epoch
    target = float(inj.target_fraction)

    def passed(epoch: int) -> bool:
        if (epoch + 1) % every or epoch + 1 < first:
            return False
        res = evaluate_persons(model, tokenizer, fmt, judge, check, **_eval_kwargs(cfg))
        frac = len(memorised(res, float(inj.threshold))) / len(check)
        accelerator.print(f"injection epoch {epoch + 1}: accuracy {res.accuracy:.3f}, "
                          f"memorised fraction {frac:.3f}")
        return frac >= target

    # Checkpointed every epoch (and every injection.save_every steps) and resumed like
    # unlearning: a killed injection continues where it stopped (issue 15).
    run_loop(accelerator, model, dataset, sft_step, loop, out_dir, "inject",
             resume=bool(cfg.trainer.resume), on_epoch_end=passed)
    model = accelerator.unwrap_model(model)
    if use_lora:
        model = model.merge_and_unload()
    return model


def save_original(model, tokenizer, path: Path) -> None:
    """M_o as safetensors + config + tokenizer, written to a temporary folder then renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_model(model, str(tmp / "model.safetensors"))  # handles tied embeddings
    model.config.to_json_file(str(tmp / "config.json"))
    tokenizer.save_pretrained(str(tmp))
    tmp.replace(path)


def original_model(cfg, world: World, accelerator, out_dir: Path | None):
    """Load or build M_o; apply the memorisation filter; return (model, tokenizer, bench, info)."""
    saved = out_dir / "original" if out_dir else None
    model, tokenizer = base_model(cfg, world)
    if saved and (saved / "model.safetensors").is_file():
        if str(cfg.model.spec) == TINY:
            from transformers import PreTrainedTokenizerFast

            tokenizer = PreTrainedTokenizerFast.from_pretrained(str(saved))
        missing, unexpected = load_weights(model, saved / "model.safetensors",
                                           "delete that folder or run with overwrite=true "
                                           "to rebuild M_o")
        if unexpected or [m for m in missing if "lm_head" not in m]:
            raise ConfigError(f"{saved}: saved original model does not match model config "
                              f"(missing {sorted(missing)[:2]}, unexpected {unexpected[:2]})")
    elif cfg.injection.enabled:
        model = inject_knowledge(cfg, model, tokenizer, world, accelerator, out_dir)
        if saved and accelerator.is_main_process:
            save_original(model, tokenizer, saved)
        accelerator.wait_for_everyone()
    model.eval()
    bench, info = world.bench, {}
    if cfg.injection.get("filter", True):
        fmt, judge = prompt_format(cfg), make_judge(cfg)
        main = bench.forget_train + bench.retain_train
        if world.dev is not None:
            main += world.dev.forget_train + world.dev.retain_train
        names = {p.name for p in main}
        persons = [p for p in world.known if p.name in names]
        res = evaluate_persons(model, tokenizer, fmt, judge, persons, **_eval_kwargs(cfg))
        keep = set(memorised(res, float(cfg.injection.threshold)))
        bench = filter_bench(bench, keep)
        if world.dev is not None:  # in place: the dev split is only ever read from the world
            world.dev = filter_bench(world.dev, keep)
        info = {"memorised": len(keep), "candidates": len(persons),
                "original_accuracy_all_qas": res.accuracy}
    return model, tokenizer, bench, info


def cda_bench(cfg, bench: Benchmark, mo, tokenizer) -> Benchmark:
    """Add CDA questions; retain labels are M_o's own greedy answers."""
    known = [p.name for p in bench.forget_train + bench.retain_train]
    pool = template_pool(bench.forget_train + bench.retain_train, known)
    fmt = prompt_format(cfg)

    def answers(questions):
        return generate_answers(mo, tokenizer, fmt, questions, **_eval_kwargs(cfg))
    n, seed = int(cfg.cda.num), int(cfg.seed)
    held = {p.name: {qa.question for qa in p.qas} for p in bench.forget_test + bench.retain_test}
    return Benchmark(augment(bench.forget_train, pool, n, seed, exclude=held),
                     bench.forget_test,
                     augment(bench.retain_train, pool, n, seed + 1, answers, exclude=held),
                     bench.retain_test, bench.bystanders, bench.lookalikes)


def budget_steps(cfg, bench: Benchmark) -> int:
    """Optimizer steps every method gets: ``trainer.epochs`` passes over the forget QAs
    *without* CDA, in full batches (capped by ``trainer.max_steps``). CDA adds items, not steps,
    so NAUF with and without CDA see the same number of steps and examples (issue 12)."""
    n_forget = sum(len(p.qas) for p in bench.forget_train)
    batch = int(cfg.trainer.batch_size)
    if n_forget < batch:
        raise ConfigError(f"trainer.batch_size={batch} exceeds the {n_forget} forget QAs; "
                          "lower it so every step is a full batch")
    steps = int(cfg.trainer.epochs) * (n_forget // batch)
    cap = int(cfg.trainer.max_steps)
    return min(steps, cap) if cap > 0 else steps


def unlearn(cfg, method: Method, mo, tokenizer, bench: Benchmark, accelerator,
            out_dir: Path | None, lr: float | None = None, steps: int | None = None,
            run_name: str | None = None):
    """Train M_u from M_o with ``method``; returns (trained unwrapped model, logged rows).

    ``lr`` overrides ``trainer.lr`` (the sweep); ``steps`` the budget (default: the budget of
    ``bench``, so a dev split can be given the test split's budget)."""
    train_bench = cda_bench(cfg, bench, mo, tokenizer) if method.cda else bench
    dataset = build_unlearning_dataset(
        train_bench.forget_train, train_bench.retain_train, tokenizer, prompt_format(cfg),
        load_templates(cfg.templates.refusal, "refusal"), load_templates(cfg.templates.idk, "idk"),
        int(cfg.seed))
    policy = copy.deepcopy(mo)
    policy.requires_grad_(True)  # M_o may have been frozen as an earlier method's reference
    reference = None
    if cfg.lora.enabled:
        policy = lora_from_cfg(policy, cfg.lora)
    elif method.needs_reference:
        reference = mo  # a frozen copy of M_o (no LoRA: adapters cannot be disabled)
        reference.requires_grad_(False)
    loop = LoopConfig(**_loop_kwargs(cfg.trainer, int(cfg.seed)))
    loop.max_steps = steps if steps is not None else budget_steps(cfg, bench)
    loop.epochs = 10**6  # the step budget ends training (CDA epochs are longer)
    loop.drop_last = True
    if lr is not None:
        loop.lr = float(lr)
    run_dir = out_dir / (run_name or method.name) if out_dir else None
    if run_dir:
        run_dir.mkdir(parents=True, exist_ok=True)
    rows = run_loop(accelerator, policy, dataset,
                    unlearning_step(method, reference, float(cfg.beta)), loop, run_dir,
                    "unlearn", resume=bool(cfg.trainer.resume))
    policy = accelerator.unwrap_model(policy)
    policy.eval()
    return policy, rows


def save_unlearned(model, path: Path, meta: dict) -> None:
    from nauf_return.checkpoint import trainable_state

    path.mkdir(parents=True, exist_ok=True)
    tmp = path / ".model.safetensors.tmp"
    save_file(trainable_state(model), str(tmp))
    tmp.replace(path / "model.safetensors")
    atomic_write_text(path / "unlearned.json", json.dumps(meta, indent=2))


def eval_sets(bench: Benchmark, synthetic: bool, robustness: bool) -> dict[str, tuple]:
    sets = {"forget_test": (bench.forget_test, None), "retain_test": (bench.retain_test, None)}
    if bench.bystanders:
        sets["bystanders"] = (bench.bystanders, None)
    if bench.lookalikes:
        sets["lookalikes"] = (bench.lookalikes, None)
    if robustness:
        for kind in ("misspell", "initials", "pronoun"):
            sets[f"forget_{kind}"] = obfuscated(bench.forget_test, kind)
        if synthetic:
            sets["forget_paraphrase"] = ([held_out_paraphrases(p) for p in bench.forget_train],
                                         None)
            sets["retain_paraphrase"] = ([held_out_paraphrases(p) for p in bench.retain_train],
                                         None)
    return sets


def evaluate_model(cfg, model, tokenizer, bench: Benchmark, synthetic: bool, judge=None,
                   sets: tuple[str, ...] | None = None) -> dict[str, SetResult]:
    """Judged outputs on every evaluation set (or only ``sets``, e.g. the dev sweep's two)."""
    judge = judge or make_judge(cfg)
    fmt = prompt_format(cfg)
    out = {}
    for name, (persons, histories) in eval_sets(bench, synthetic,
                                                bool(cfg.eval.robustness)).items():
        if sets is not None and name not in sets:
            continue
        out[name] = evaluate_persons(model, tokenizer, fmt, judge, persons,
                                     with_logprob=bool(cfg.eval.logprob) and histories is None,
                                     histories=histories, **_eval_kwargs(cfg))
    return out


def compare(original: dict[str, SetResult], unlearned: dict[str, SetResult], seed: int) -> dict:
    """Paper scores (fixed formulas), CIs over persons, and every beyond-the-paper rate."""
    fo, fu = original["forget_test"], unlearned["forget_test"]
    ro, ru = original["retain_test"], unlearned["retain_test"]
    scores = unlearning_scores(fo.accuracy, fu.accuracy, ro.accuracy, ru.accuracy)
    lo, hi = bootstrap_average_ci(np.array(fo.per_person["correct"]),
                                  np.array(fu.per_person["correct"]),
                                  np.array(ro.per_person["correct"]),
                                  np.array(ru.per_person["correct"]), seed=seed)
    out = {**scores.as_dict(), "average_ci95": [100 * lo, 100 * hi], "sets": {}}
    for name in unlearned:
        o, u = original[name].summary(), unlearned[name].summary()
        delta = np.array(unlearned[name].per_person["correct"]) - np.array(
            original[name].per_person["correct"])
        out["sets"][name] = {"original": o, "unlearned": u,
                             "accuracy_drop": o["correct_rate"] - u["correct_rate"],
                             "accuracy_change_ci95": list(mean_ci(delta, seed=seed))}
    return out


def write_split_files(bench: Benchmark, directory: Path, cfg) -> dict:
    return write_benchmark(directory, bench, {"seed": int(cfg.seed),
                                              "data": OmegaConf.to_container(cfg.data)})
