import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_train_overrides
from diffusiondialog.checkpoint import CheckpointError, load_checkpoint
from diffusiondialog.evaluation import evaluate
from diffusiondialog.tokenizer import train_bpe
from diffusiondialog.trainer import train
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]


def test_train_resume_is_exact(compose_cfg, plato_dir, tmp_path):
    """4 steps straight == 2 steps, stop, resume for 2 more (weights, RNG, data order)."""
    full = train(compose_cfg("train", tiny_train_overrides(plato_dir, tmp_path / "a", 4)))
    train(compose_cfg("train", tiny_train_overrides(plato_dir, tmp_path / "b", 4)
                      + ["trainer.stop_after=2"]))
    resumed = train(compose_cfg("train", tiny_train_overrides(plato_dir, tmp_path / "b", 4)))
    a, b = load_file(str(full / "model.safetensors")), load_file(
        str(resumed / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4]
    assert not list(tmp_path.glob("**/*.tmp"))


def test_eval_end_to_end_and_tokenizer_mismatch(compose_cfg, plato_dir, tmp_path):
    ck = {}
    for kind in ("diffusiondialog", "bart", "cvae"):
        ck[kind] = train(compose_cfg("train", tiny_train_overrides(
            plato_dir, tmp_path / kind, 2) + [f"model={kind}"]))
    over = [f"data.path={plato_dir}", "data.format=plato", "data.max_source=48",
            f"eval.checkpoints.diffusiondialog={ck['diffusiondialog']}",
            f"eval.checkpoints.bart={ck['bart']}", f"eval.checkpoints.cvae={ck['cvae']}",
            "eval.num_contexts=3", "eval.k=2",
            "eval.decode.max_len=4", "eval.decode.beams=2", "eval.decode.ddim_steps=3",
            "eval.ddim_study=[1]"]
    res = evaluate(compose_cfg("eval", over))
    for key in ("paper", "metric", "value", "baseline", "baseline_value", "config", "seed",
                "hardware", "command", "date"):
        assert key in res
    assert res["resolved_config"]["eval"]["k"] == 2  # the config that ran, not a summary
    assert set(res["rows"]) == {
        "diffusiondialog/ddim3-beam", "diffusiondialog/study/ddim1-stride-greedy",
        "diffusiondialog/study/ddim1-trailing-greedy", "bart/beam", "bart/nucleus",
        "cvae/prior-beam"}
    diag = res["rows"]["cvae/prior-beam"]["latent_diagnostics"]
    assert diag["kl_mean"] >= 0 and "nll_prior_mean" in diag
    meta = json.loads((ck["cvae"] / "spec.json").read_text())
    assert meta["spec"]["latent_type"] == "gaussian" and meta["spec"]["latent_dim"] == 64
    lines = [json.loads(x) for x in (tmp_path / "cvae" / "metrics.jsonl").read_text().splitlines()]
    # KL annealing follows the optimizer step (500-step ramp in configs/model/cvae.yaml).
    assert [x["kl_weight"] for x in lines] == [0.0, 0.002]
    other = tmp_path / "other.json"
    train_bpe(["completely different text"] * 3, 300).save(str(other))
    with pytest.raises(ValueError, match="tokenizer fingerprint"):
        load_checkpoint(ck["bart"], other)
    with pytest.raises(CheckpointError, match="missing/manifest.json"):
        evaluate(compose_cfg("eval", over + [f"eval.checkpoints.bart={tmp_path}/missing"]))


def test_config_errors_are_named(compose_cfg, plato_dir, tmp_path):
    base = tiny_train_overrides(plato_dir, tmp_path / "x", 1)
    with pytest.raises(ValueError, match="data.format"):
        train(compose_cfg("train", base + ["data.format=csv"]))
    with pytest.raises(ValueError, match="model.kind"):
        train(compose_cfg("train", base + ["model.kind=gpt"]))
    with pytest.raises(ValueError, match="model.cvae.prior"):
        train(compose_cfg("train", base + ["model=cvae", "model.cvae.prior=vamp"]))
    with pytest.raises(ValueError, match="loss_weights"):
        train(compose_cfg("train", base + ["model=cvae", "+model.loss_weights.diffusion=1"]))


def _tiny_hf_bart(folder: Path, tok) -> dict:
    """A tiny BartForConditionalGeneration saved with save_pretrained, plus its tokenizer."""
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast
    torch.manual_seed(3)
    dims = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
                decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                max_position_embeddings=64)
    hf = BartForConditionalGeneration(BartConfig(vocab_size=tok.get_vocab_size(), **dims))
    hf.save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>",
                            eos_token="</s>", unk_token="<unk>").save_pretrained(folder)
    return {k: v.clone() for k, v in hf.state_dict().items()}


@pytest.mark.parametrize("kind", ["diffusiondialog", "cvae"])
def test_model_init_from_local_bart_folder(compose_cfg, plato_dir, tmp_path, kind):
    """The real-model path (model.init + data.tokenizer, as for facebook/bart-base) on a tiny
    BART written by save_pretrained: nothing is downloaded, every BART tensor is loaded."""
    from diffusiondialog.model import load_bart_weights
    from diffusiondialog.trainer import _init_from_bart
    folder = tmp_path / "tiny-bart"
    hf_state = _tiny_hf_bart(folder, train_bpe(
        [line for f in plato_dir.glob("dial.*") for line in f.read_text().splitlines()], 300))
    over = tiny_train_overrides(plato_dir, tmp_path / "run", 1) + [
        f"model={kind}", f"model.init={folder}", f"data.tokenizer={folder}",
        "trainer.lr=0.0", "model.bart.encoder_attention_heads=4",
        "model.bart.decoder_attention_heads=4", "model.bart.max_position_embeddings=64"]
    ck = train(compose_cfg("train", over))
    model, tok, _ = load_checkpoint(ck)
    assert tok.get_vocab_size() == hf_state["model.shared.weight"].shape[0]
    ours = model.state_dict()
    # lr 0: the checkpoint holds exactly the BART weights it was initialised from.
    assert torch.equal(ours["shared.weight"], hf_state["model.shared.weight"])
    assert torch.equal(ours["encoder.layers.0.self_attn.k_proj.weight"],
                       hf_state["model.encoder.layers.0.self_attn.k_proj.weight"])
    assert torch.equal(ours["decoder.layers.0.ffn.fc2.weight"],
                       hf_state["model.decoder.layers.0.fc2.weight"])
    fresh = type(model)(model.spec)
    left = load_bart_weights(fresh, hf_state)
    assert "shared.weight" not in left and not any(k.startswith(("encoder.layers",
                                                                  "decoder.embed")) for k in left)
    # Same loader, called directly: a folder that does not exist fails without downloading.
    with pytest.raises(OSError):
        _init_from_bart(fresh, str(tmp_path / "no-such-bart"))


def test_model_init_from_hub_id_in_local_cache(plato_dir, tmp_path, monkeypatch):
    """`model.init=facebook/bart-base` resolves through the HF cache only (local_files_only):
    a hub-cache layout (refs/main -> snapshot) holding the tiny BART stands in for it."""
    from diffusiondialog.model import DialogModel, ModelSpec
    from diffusiondialog.trainer import _init_from_bart
    from huggingface_hub import constants
    from transformers import BartConfig
    folder = tmp_path / "tiny-bart"
    hf_state = _tiny_hf_bart(folder, train_bpe(["hello there how are you"] * 5, 300))
    repo = tmp_path / "hub" / "models--facebook--bart-base"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = BartConfig.from_pretrained("facebook/bart-base", local_files_only=True).to_dict()
    keys = ["d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
            "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
            "max_position_embeddings", "vocab_size"]
    model = DialogModel(ModelSpec(bart={k: cfg[k] for k in keys}, denoiser_layers=1))
    _init_from_bart(model, "facebook/bart-base")
    assert torch.equal(model.shared.weight, hf_state["model.shared.weight"])
    assert torch.equal(model.state_dict()["decoder.layers.0.ffn.fc1.weight"],
                       hf_state["model.decoder.layers.0.fc1.weight"])


def test_ddp_two_processes_gloo(plato_dir, tmp_path):
    """One DDP step with 2 CPU processes (gloo) through the real entry point and torchrun."""
    out = tmp_path / "ddp"
    args = [a for a in tiny_train_overrides(plato_dir, out, 2)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIFFUSIONDIALOG_CACHE": str(tmp_path / "c")}
    with socket.socket() as s:  # a free port: torchrun's --master_port=0 can hang here
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={port}", "-m", "diffusiondialog.train", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model, _, meta = load_checkpoint(out / "checkpoint")
    assert meta["step"] == 2
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_paper_experiment_composes_with_official_settings(compose_cfg):
    from diffusiondialog.config import validate_train_config
    cfg = compose_cfg("train", ["experiment=paper", "data.path=/data/dd",
                                "data.tokenizer=/m/tokenizer.json"])
    validate_train_config(cfg)
    assert cfg.model.bart.d_model == 768 and cfg.model.denoiser_layers == 6
    assert cfg.model.diffusion_steps == 2000 and cfg.model.schedule == "sqrt"
    assert cfg.trainer.batch_size * cfg.trainer.grad_accum == 128
    assert cfg.trainer.steps == 10000 and cfg.data.format == "plato"
    assert cfg.data.max_source == 256 and cfg.data.max_context_turns == 10


def test_ddim_study_plot(tmp_path):
    from diffusiondialog.plots import plot_ddim_study
    rows = {f"dd/study/ddim{s}-{sp}-greedy": {"bleu1_plato_nltk_m7": 0.1 * s,
                                              "distinct2_inter": 0.2,
                                              "unique_per_context": 2.0,
                                              "latent_ms_per_response": float(s)}
            for s in (1, 5) for sp in ("stride", "trailing")}
    out = plot_ddim_study({"rows": rows}, tmp_path / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="ddim_study"):
        plot_ddim_study({"rows": {}}, tmp_path / "q.png")


def test_gpu_check_script_dry_run_on_cpu(tmp_path, monkeypatch):
    """The lent-GPU script runs end to end (tiny model, CPU bf16) and writes its JSON."""
    import runpy
    monkeypatch.setenv("OUT", str(tmp_path))
    script = runpy.run_path(str(ROOT / "bench" / "gpu_check.py"))
    res = script["main"](["--device", "cpu", "--tiny"])
    assert res["ddim50_s_4_latents"] > 0
    assert json.loads((tmp_path / "gpu_check.json").read_text())["tiny"] is True
