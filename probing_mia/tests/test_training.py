"""Target training: resume equals an uninterrupted run, torn checkpoints are refused, a gloo
DDP step equals the single-process step."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from probing_mia import pipeline, run_folder
from probing_mia.config import ModelConfig, TrainerConfig
from probing_mia.errors import ConfigError
from probing_mia.model import tiny_llama
from probing_mia.training import train_lm

from conftest import SHORT, needs_arxivmia, typed

NO_REF = SHORT + ["trainer.train_ref=false"]


def final_weights(out) -> dict[str, torch.Tensor]:
    return load_file(str(out / "target" / "final" / "model.safetensors"))


@needs_arxivmia
def test_resume_equals_uninterrupted(tmp_path):
    cfg = typed(NO_REF)
    straight = run_folder.prepare(cfg, tmp_path / "a")
    pipeline.train_target(cfg, straight)
    resumed = run_folder.prepare(cfg, tmp_path / "b")
    partial = pipeline.train_target(cfg, resumed, stop_at=3)
    assert partial["target"]["steps"] == 3 and not partial["target"]["finished"]
    assert not (resumed / "target" / "final").exists()
    pipeline.train_target(cfg, resumed)
    a, b = final_weights(straight), final_weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    logged = [json.loads(line)["step"]
              for line in (resumed / "target" / "log.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged)) and logged[-1] == 6  # no step logged twice


@needs_arxivmia
@pytest.mark.parametrize("damage", ["manifest", "piece", "bytes"])
def test_torn_checkpoint_is_refused(tmp_path, damage):
    cfg = typed(NO_REF)
    out = run_folder.prepare(cfg, tmp_path / "run")
    pipeline.train_target(cfg, out, stop_at=2)
    ckpt = out / "target" / "ckpt"
    if damage == "manifest":
        (ckpt / "manifest.json").unlink()
    elif damage == "piece":
        (ckpt / "optimizer.safetensors").unlink()
    else:
        with (ckpt / "model.safetensors").open("r+b") as handle:
            handle.seek(-8, os.SEEK_END)
            handle.write(b"\0" * 8)
    with pytest.raises(ConfigError, match=r"checkpoint .*ckpt.*overwrite=true"):
        pipeline.train_target(cfg, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MODEL = ModelConfig(hidden=32, layers=2, heads=2, intermediate=64, max_length=48)
TRAIN = TrainerConfig(epochs=1, lr=1e-2, batch_size=6, warmup_steps=0, max_steps=1,
                      save_every=1, log_every=1)


def _ddp_worker(rank: int, size: int, port: int, tok_dir: str, texts: list[str], out: str):
    from transformers import PreTrainedTokenizerFast

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(size),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tok_dir)
    model = tiny_llama(MODEL, len(tokenizer), seed=0)
    train_lm(model, tokenizer, texts, TRAIN, MODEL.max_length, out, 0, "h")
    torch.save(model.state_dict(), f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_gloo_ddp_step_equals_single_process(tmp_path, tiny_pair, small_texts):
    _, tokenizer = tiny_pair
    tokenizer.save_pretrained(str(tmp_path / "tok"))
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "tok"), small_texts,
                                str(tmp_path / "ddp")), nprocs=2, join=True)
    single = tiny_llama(MODEL, len(tokenizer), seed=0)
    train_lm(single, tokenizer, small_texts, TRAIN, MODEL.max_length, tmp_path / "one", 0, "h")
    r0 = torch.load(tmp_path / "ddp" / "rank0.pt")
    r1 = torch.load(tmp_path / "ddp" / "rank1.pt")
    initial = tiny_llama(MODEL, len(tokenizer), seed=0).state_dict()
    for key, value in single.state_dict().items():
        assert torch.equal(r0[key], r1[key])  # DDP keeps the ranks identical
        torch.testing.assert_close(r0[key], value, atol=1e-5, rtol=1e-4)
    assert any(not torch.equal(initial[k], v) for k, v in r0.items())  # it did train
