import math

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")

from double_rounding.llm import (  # noqa: E402
    QuantLinear,
    calibration_loss,
    load_causal_lm,
    perplexity,
    quantize_linears,
    scale_parameters,
    scale_qat,
    set_bits,
    windows,
)
from double_rounding.rounding import int_range  # noqa: E402

BITS = [8, 6, 4, 3]


def tiny_lm(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                      max_position_embeddings=128, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


def ids(n: int = 96, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 128, (n,), generator=torch.Generator().manual_seed(seed))


def test_replaces_linears_but_not_lm_head():
    model = tiny_lm()
    q = quantize_linears(model, BITS)
    assert len(q) == 2 * 7  # q,k,v,o,gate,up,down per layer
    assert not isinstance(model.lm_head, QuantLinear)
    assert all(isinstance(model.get_submodule(n), QuantLinear) for n in q)


def test_stored_int8_and_second_rounding_equal_integer_path():
    model = tiny_lm()
    layers = quantize_linears(model, BITS)
    for layer in layers.values():
        q8 = layer.stored_int8()
        assert q8.dtype == torch.int8
        scale = layer.quantizer.scale.detach()
        assert scale.shape == (layer.out_features, 1)
        # per-channel absmax: every row reaches +-127 (or -128 never, since |w|/s <= 127)
        assert torch.equal(q8.abs().amax(1).to(torch.int32), torch.full((layer.out_features,), 127,
                                                                        dtype=torch.int32))
        for b in BITS:
            layer.bits = b
            with torch.no_grad():
                w_fake = layer.quantized_weight()
            qi = layer.integer_weight(b)
            n, p = int_range(b)
            assert qi.min() >= n and qi.max() <= p
            assert torch.equal(w_fake, qi.float() * (scale * 2 ** (8 - b)))


def test_8bit_logits_close_to_fp32_and_3bit_further():
    model = tiny_lm()
    x = ids(64)[None]
    with torch.no_grad():
        ref = model(x).logits
    quantize_linears(model, BITS)
    err = {}
    for b in (8, 3):
        set_bits(model, b)
        with torch.no_grad():
            err[b] = (model(x).logits - ref).abs().max().item()
    set_bits(model, None)
    with torch.no_grad():
        assert torch.equal(model(x).logits, ref)
    assert err[8] < 1e-2 * ref.abs().max().item()
    assert err[3] > 5 * err[8]


def test_perplexity_equals_exp_mean_nll_by_hand():
    model = tiny_lm()
    t = ids(100)
    res = perplexity(model, t, seq_len=40)
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, 100, 40):
            w = t[start:start + 40]
            logp = torch.log_softmax(model(w[None]).logits[0].double(), -1)
            for i in range(w.numel() - 1):
                nll -= logp[i, w[i + 1]].item()
                count += 1
    assert res["tokens"] == count == 39 + 39 + 19
    assert res["ppl"] == pytest.approx(math.exp(nll / count), rel=1e-5)
    with pytest.raises(ValueError):
        windows(t, 1)


def test_rtn_8bit_equals_int8_storage_and_rtn_uses_own_scale_per_bit():
    dr, rtn = tiny_lm(), tiny_lm()
    ldr = quantize_linears(dr, BITS, scheme="double_rounding")
    lrt = quantize_linears(rtn, BITS, scheme="rtn")
    x = ids(48)[None]
    for name in ldr:
        a, b = ldr[name], lrt[name]
        a.bits = b.bits = 8
        with torch.no_grad():
            assert torch.equal(a.quantized_weight(), b.quantized_weight())
        w = b.weight.detach()
        s4 = b.quantizer.scale_for(4)
        assert torch.allclose(s4, w.abs().amax(1, keepdim=True) / 7)
    set_bits(dr, 8)
    set_bits(rtn, 8)
    with torch.no_grad():
        assert torch.equal(dr(x).logits, rtn(x).logits)


def test_mse_init_no_worse_than_absmax():
    w = tiny_lm().model.layers[0].mlp.down_proj.weight
    errs = {}
    for init in ("absmax", "mse"):
        model = tiny_lm()
        layer = quantize_linears(model, BITS, init=init)["model.layers.0.mlp.down_proj"]
        e = 0.0
        for b in BITS:
            layer.bits = b
            with torch.no_grad():
                e += (layer.quantized_weight() - w).pow(2).mean().item()
        errs[init] = e
    assert errs["mse"] <= errs["absmax"] + 1e-12


def test_scale_qat_changes_only_scales_and_lowers_calibration_loss():
    model = tiny_lm()
    quantize_linears(model, [8, 3])
    calib = ids(128, seed=2)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    loss0 = calibration_loss(model, calib, [8, 3], seq_len=64)
    res = scale_qat(model, calib, [8, 3], steps=15, seq_len=64, lr=0.05)
    loss1 = calibration_loss(model, calib, [8, 3], seq_len=64)
    assert loss1 < loss0
    assert len(res["loss_history"]) == 15
    scale_ids = {id(p) for p in scale_parameters(model)}
    names = {n for n, p in model.named_parameters() if id(p) in scale_ids}
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and changed <= names
    assert all(p.requires_grad for p in model.parameters())  # frozen params restored


def test_bad_input_errors():
    model = tiny_lm()
    with pytest.raises(ValueError, match="start at 8"):
        quantize_linears(model, [6, 4])
    with pytest.raises(ValueError, match="scheme"):
        quantize_linears(model, BITS, scheme="gptq")
    with pytest.raises(ValueError, match="QuantLinear"):
        set_bits(model, 4)
    quantize_linears(model, [8, 4])
    with pytest.raises(ValueError, match="not in the trained bit list"):
        set_bits(model, 3)
    with pytest.raises(ValueError):
        load_causal_lm("/nonexistent/dir/that/is/not/a/hub/id-xyz")
    _ = F  # keep the functional import used for readers of the file
