"""The pretrained-backbone construction (issue 21) on a tiny random Llama with a ChatML
tokenizer: the invariants the SmolLM2 study relies on."""

import json
import math
import runpy
from pathlib import Path

import pytest
import torch
from conftest import SENTENCES, write_plato
from diffusiondialog.chat_batching import collate_chat, prompt_ids, stop_id
from diffusiondialog.chat_decoding import ChatDecode, beam_one, sample_k
from diffusiondialog.data import Pair
from diffusiondialog.llm_study import infonce_mi, latent_diagnostics, split_dialogues
from diffusiondialog.prefix_lm import PrefixLM, PrefixLMSpec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    """A save_pretrained folder: random 2-layer Llama (GQA) + a BPE with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    folder = tmp_path_factory.mktemp("tiny-llama")
    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    raw.train_from_iterator(SENTENCES * 3 + ["user assistant"], trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="<unk>",
                                  eos_token="<|im_end|>", pad_token="<|im_end|>")
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return folder


def _model(folder: Path, use_latent: bool = True, **over) -> tuple[PrefixLM, object]:
    from diffusiondialog.backbone import load_backbone
    lm, tok = load_backbone(str(folder))
    torch.manual_seed(1)
    spec = PrefixLMSpec(backbone=str(folder), use_latent=use_latent, lora_r=4,
                        denoiser_layers=1, **over)
    return PrefixLM(spec, lm).eval(), tok


def _pairs(n: int = 6) -> list[Pair]:
    return [Pair(f"c{i}", tuple(SENTENCES[i:i + 2]), SENTENCES[i + 2]) for i in range(n)]


def test_prompt_keeps_newest_turns_and_ends_with_the_users_turn(tiny_backbone):
    _, tok = _model(tiny_backbone, use_latent=False)
    full = tok.decode(prompt_ids(tok, ("a b", "c d", "e f"), 1000))
    assert full.index("user\ne f") > full.index("assistant\nc d") > full.index("user\na b")
    assert full.endswith("<|im_start|>assistant\n")
    short = prompt_ids(tok, ("a b", "c d", "e f"), 8)
    assert len(short) == 8 + len(tok.encode("<|im_start|>assistant\n",
                                            add_special_tokens=False))
    assert tok.decode(short).rstrip().endswith("e f<|im_end|>\n<|im_start|>assistant")


def test_context_states_from_the_posterior_pass_equal_the_prompt_pass(tiny_backbone):
    """The causal LM's prompt positions do not see the response: the prior is conditioned on
    exactly what it gets at inference."""
    model, tok = _model(tiny_backbone)
    b = collate_chat(tok, _pairs(1), 64, 16)
    ctx, ctx_mask, z0 = model.encode(b["ids"], b["mask"], b["prompt_len"], b["last"])
    p = int(b["prompt_len"][0])
    alone = model.context(b["ids"][:, :p], b["mask"][:, :p])
    torch.testing.assert_close(ctx, alone, atol=1e-5, rtol=1e-5)
    assert z0.shape == (1, 1, 64) and int(ctx_mask.sum()) == p


def test_cached_decoding_with_prefix_equals_full_recompute(tiny_backbone):
    model, tok = _model(tiny_backbone)
    latent = torch.randn(2, 1, 64)
    p = prompt_ids(tok, ("hi how are you doing today",), 32)
    out = sample_k(model, p, 2, stop_id(tok), ChatDecode("greedy", max_len=6), latent)
    for i in range(2):  # re-derive each greedy token from the whole sequence, no cache
        seq = list(p)
        for t in out[i]:
            ids = torch.tensor([seq])
            logits = model.logits(ids, torch.ones_like(ids), latent[i:i + 1])
            assert int(logits[0, -1].argmax()) == t
            seq.append(t)


def test_prefix_changes_the_output_and_none_is_the_plain_lm(tiny_backbone):
    model, tok = _model(tiny_backbone)
    b = collate_chat(tok, _pairs(2), 64, 16)
    plain = model.lm(input_ids=b["ids"], attention_mask=b["mask"]).logits
    torch.testing.assert_close(model.logits(b["ids"], b["mask"], None), plain)
    with_prefix = model.logits(b["ids"], b["mask"], torch.randn(2, 1, 64) * 3)
    assert not torch.allclose(with_prefix, plain, atol=1e-4)


def test_beam_with_one_beam_is_greedy(tiny_backbone):
    model, tok = _model(tiny_backbone, use_latent=False)
    p = prompt_ids(tok, ("do you like pizza",), 32)
    greedy = sample_k(model, p, 1, stop_id(tok), ChatDecode("greedy", max_len=8))[0]
    assert beam_one(model, p, stop_id(tok), ChatDecode("beam", beams=1, max_len=8)) == greedy


@pytest.mark.parametrize("use_latent", [False, True])
def test_training_fits_a_batch_and_only_lora_and_latent_modules_train(tiny_backbone,
                                                                       use_latent):
    model, tok = _model(tiny_backbone, use_latent, context_dropout=0.5)
    b = collate_chat(tok, _pairs(4), 64, 16)
    base_before = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 3e-3)
    model.train()
    first = None
    gen = torch.Generator().manual_seed(0)
    for _ in range(25):
        loss = model(b, gen)
        first = first if first is not None else loss["reconstruction"].item()
        loss["loss"].backward()
        opt.step()
        opt.zero_grad()
    assert loss["reconstruction"].item() < first - 0.5
    assert all(torch.equal(p, base_before[n]) for n, p in model.named_parameters()
               if not p.requires_grad)
    trained = model.trainable_state()
    assert any("lora" in k for k in trained)
    assert any(k.startswith("latent_kv") for k in trained) == use_latent


def test_infonce_bounds():
    n = 8
    perfect = torch.full((n, n), -100.0).fill_diagonal_(0.0)
    assert infonce_mi(perfect) == pytest.approx(math.log(n), abs=1e-6)
    assert infonce_mi(torch.zeros(n, n)) == pytest.approx(0.0, abs=1e-6)  # latent ignored


def test_diagnostics_on_an_untrained_model(tiny_backbone):
    model, tok = _model(tiny_backbone)
    d = latent_diagnostics(model, tok, _pairs(6), (64, 16), n_mi=4)
    assert 0 <= d["z0_var_across_examples"] and d["infonce_bound_log_n"] == pytest.approx(
        math.log(4))
    assert d["infonce_mi_nats"] <= math.log(4) + 1e-6


def test_split_dialogues_never_splits_a_dialogue():
    pairs = [Pair("a", ("x",), "r"), Pair("a", ("x", "r"), "s"), Pair("b", ("y",), "t"),
             Pair("b", ("y", "t"), "u"), Pair("b", ("y", "t", "u"), "v")]
    train, val = split_dialogues(pairs, 2)
    assert [p.conversation for p in val] == [] or val[0].context == ("y",)
    assert len(train) + len(val) == len(pairs)
    train, val = split_dialogues(pairs, 4)
    assert [p.conversation for p in train] == ["a", "a"]


def test_study_script_end_to_end_on_the_tiny_backbone(tiny_backbone, tmp_path, monkeypatch):
    data = write_plato(tmp_path / "dd")
    lines = []  # dialogues of three pairs, PLATO style: contexts grow one turn per line
    for i in range(10):
        turns = [SENTENCES[(i + j) % len(SENTENCES)] for j in range(4)]
        lines += [" __eou__ ".join(turns[:j]) + "\t" + turns[j] for j in range(1, 4)]
    (data / "dial.dev").write_text("\n".join(lines) + "\n")
    script = runpy.run_path(str(ROOT / "bench" / "llm_study.py"))
    monkeypatch.setitem(script["main"].__globals__, "ROOT", tmp_path)
    res = script["main"](["--data", str(data), "--backbone", str(tiny_backbone), "--steps",
                          "2", "--batch", "2", "--val", "10", "--contexts", "2", "--k", "2",
                          "--lora-r", "2", "--max-response", "6", "--name", "t",
                          "--runs", str(tmp_path / "runs")])
    assert "diffusiondialog/greedy-clampmatched" in res["rows"]
    assert {"baseline/beam4", "baseline/nucleus-p0.5", "baseline/temp-0.7"} <= set(res["rows"])
    assert set(res["dominated_by"]) == {k for k in res["rows"] if k.startswith("diffusion")}
    gens = [json.loads(x) for x in (tmp_path / "results" / "t_generations.jsonl").open()]
    assert len(gens) == len(res["rows"]) and len(gens[0]["samples"]) == 2
    assert (tmp_path / "results" / "t_curves.png").read_bytes()[:4] == b"\x89PNG"
