import os
import random
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Tiny models run several times faster with one thread on the 2-core CI machines.
torch.set_num_threads(1)

# Fixed examples by default: a red CI run must be reproducible. HYPOTHESIS_PROFILE=explore
# searches fresh examples locally.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SENTENCES = [
    "hi how are you doing today", "i am fine thanks and you", "pretty good just tired",
    "what did you do this weekend", "i went hiking with my dog", "that sounds like fun",
    "do you like pizza", "yes i love pizza with cheese", "me too it is the best food",
    "where are you from", "i am from utah", "nice i have never been there",
]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "dd-cache"
    monkeypatch.setenv("DIFFUSIONDIALOG_CACHE", str(cache))
    import diffusiondialog.trainer as trainer
    monkeypatch.setattr(trainer, "CACHE_DIR", Path(cache))


@pytest.fixture(scope="session")
def tok():
    from diffusiondialog.tokenizer import train_bpe
    return train_bpe(SENTENCES * 5, vocab_size=300)


def tiny_bart(vocab: int, **over) -> dict:
    cfg = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
               decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
               max_position_embeddings=64, vocab_size=vocab, dropout=0.0,
               attention_dropout=0.0, activation_dropout=0.0)
    cfg.update(over)
    return cfg


@pytest.fixture
def make_model(tok):
    from diffusiondialog.model import DialogModel, ModelSpec

    def build(use_latent: bool = True, seed: int = 0, **spec_over) -> DialogModel:
        torch.manual_seed(seed)
        spec = ModelSpec(bart=tiny_bart(tok.get_vocab_size()), use_latent=use_latent,
                         denoiser_layers=2, diffusion_steps=2000, **spec_over)
        return DialogModel(spec).eval()
    return build


@pytest.fixture
def pairs():
    from diffusiondialog.data import Pair
    rng = random.Random(0)
    out = []
    for i in range(40):
        turns = rng.sample(SENTENCES, 3)
        out.append(Pair(f"c{i}", tuple(turns[:2]), turns[2]))
    return out


@pytest.fixture
def batch(tok, pairs):
    from diffusiondialog.batching import collate
    return collate(tok, pairs[:6], max_source=48, max_target=16, max_turn=15)


def write_plato(folder: Path, n: int = 60) -> Path:
    """A PLATO-format DailyDialog-like fixture (dial.train/dev/test)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    for split, m in (("train", n), ("dev", 8), ("test", 8)):
        lines = []
        for _ in range(m):
            turns = rng.sample(SENTENCES, 4)
            lines.append(" __eou__ ".join(turns[:3]) + "\t" + turns[3])
        (folder / f"dial.{split}").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def plato_dir(tmp_path):
    return write_plato(tmp_path / "plato")


CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "configs")


@pytest.fixture
def compose_cfg():
    from hydra import compose, initialize_config_dir

    def build(name: str, overrides: list[str]):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name=name, overrides=overrides)
    return build


def tiny_train_overrides(plato: Path, out: Path, steps: int = 2) -> list[str]:
    return [f"data.path={plato}", "data.format=plato", "data.vocab_size=300",
            "data.max_source=48", "data.max_target=16", "model.bart.d_model=32",
            "model.bart.encoder_layers=1", "model.bart.decoder_layers=1",
            "model.bart.encoder_ffn_dim=64", "model.bart.decoder_ffn_dim=64",
            "model.bart.dropout=0.0", "model.denoiser_layers=1", f"trainer.steps={steps}",
            "trainer.batch_size=8", "trainer.log_every=1", "trainer.save_every=100",
            "trainer.cpu=true", f"trainer.output_dir={out}", "trainer.warmup=1"]


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
