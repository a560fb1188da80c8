"""Template, activation hook semantics, proxy schedule, probes and their dev-only selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probing_mia.activations import last_token_activations
from probing_mia.config import ProbeConfig, ProxyConfig
from probing_mia.errors import ConfigError
from probing_mia.metrics import auc
from probing_mia.probe import probe_all_layers, standardise
from probing_mia.proxy import expected_steps, finetune_proxy
from probing_mia.template import wrap, wrap_to_fit


def test_template_is_byte_exact():
    assert wrap("2+2=4.") == (b"Here is a statement:\n\n2+2=4.\n\nIs the above statement "
                             b"correct? Answer: ").decode()


def test_wrap_to_fit_keeps_the_template_end(tiny_pair):
    _, tokenizer = tiny_pair
    text = wrap_to_fit("word " * 200, tokenizer, 60)
    assert text.startswith("Here is a statement:\n\n") and text.endswith("Answer: ")
    assert len(tokenizer(text)["input_ids"]) + 1 <= 60


def test_hook_equals_hidden_states_and_last_layer_is_pre_norm(tiny_pair):
    model, tokenizer = tiny_pair
    texts = ["the cat sat on the mat", "a dog", "we study covering spectra of spaces"]
    acts = last_token_activations(model, tokenizer, texts, 64, batch_size=3)
    n_layers = model.config.num_hidden_layers
    assert acts.shape == (n_layers, 3, model.config.hidden_size)
    for i, text in enumerate(texts):
        ids = torch.tensor([[tokenizer.bos_token_id] + tokenizer(text)["input_ids"]])
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states
        for layer in range(n_layers - 1):
            torch.testing.assert_close(acts[layer, i], hidden[layer + 1][0, -1])
        # The last layer: the hook is pre-norm; HF's last hidden state is norm(hook).
        assert not torch.allclose(acts[-1, i], hidden[-1][0, -1], atol=1e-3)
        with torch.no_grad():
            torch.testing.assert_close(model.model.norm(acts[-1, i]), hidden[-1][0, -1])
    # Batched (right-padded, indexed by mask length) equals one-at-a-time extraction.
    single = torch.cat([last_token_activations(model, tokenizer, [t], 64) for t in texts], 1)
    torch.testing.assert_close(acts, single, atol=1e-5, rtol=1e-5)


class CountingAdamW(torch.optim.AdamW):
    calls = 0

    def step(self, closure=None):
        CountingAdamW.calls += 1
        return super().step(closure)


@pytest.mark.parametrize("schedule,n,expected", [("paper", 10, 2), ("gentle", 10, 4),
                                                 ("gentle", 17, 6)])
def test_proxy_does_exactly_the_stated_optimizer_steps(tiny_pair, monkeypatch, schedule, n,
                                                       expected):
    model, tokenizer = tiny_pair
    monkeypatch.setattr(torch.optim, "AdamW", CountingAdamW)
    CountingAdamW.calls = 0
    cfg = ProxyConfig(schedule=schedule, lr=1e-2, epochs=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    texts = [wrap(f"statement number {i}") for i in range(n)]
    proxy, steps = finetune_proxy(model, tokenizer, texts, cfg, 64, seed=0)
    assert steps == CountingAdamW.calls == expected == expected_steps(cfg, n)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the target is untouched
    assert any(not torch.equal(before[k], v) for k, v in proxy.state_dict().items())


def planted(n: int, layers: int, dim: int, signal_layer: int, shift: float, seed: int):
    """[layers, n, dim] noise; at ``signal_layer`` members move along a fixed direction."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(layers, n, dim, generator=g)
    direction = torch.zeros(dim)
    direction[:3] = 1.0
    x[signal_layer] += shift * (y[:, None].float() * 2 - 1) * direction
    return x, y.tolist()


@pytest.mark.parametrize("mode", ["transductive", "inductive"])
def test_probe_on_planted_linear_signal_reaches_auc_one_at_the_right_layer(mode):
    train, ytr = planted(100, 3, 16, 1, 3.0, 0)
    dev, ydev = planted(60, 3, 16, 1, 3.0, 1)
    test, yte = planted(200, 3, 16, 1, 3.0, 2)
    result = probe_all_layers(train, ytr, dev, ydev, test, yte, ProbeConfig(), mode, seed=0)
    assert result.layer == 1
    assert auc(yte, result.test_scores) > 0.99
    assert max(result.test_auc[0], result.test_auc[2]) < 0.7  # the noise layers carry nothing
    assert result.train_acc[1] > 0.95


def test_selection_and_inductive_features_never_use_test():
    train, ytr = planted(80, 3, 8, 2, 1.0, 0)
    dev, ydev = planted(40, 3, 8, 2, 1.0, 1)
    test, yte = planted(60, 3, 8, 2, 1.0, 2)
    cfg = ProbeConfig(steps=200)
    base = probe_all_layers(train, ytr, dev, ydev, test, yte, cfg, "inductive", 0)
    # Scramble test features and flip test labels: layer and dev scores must not move.
    other = probe_all_layers(train, ytr, dev, ydev, test * 5 + 3, [1 - v for v in yte], cfg,
                             "inductive", 0)
    assert other.layer == base.layer
    np.testing.assert_array_equal(other.dev_scores, base.dev_scores)
    # Inductive: test rows are standardised with the TRAIN statistics.
    _, (z,) = standardise(train[0], [test[0]], "inductive")
    torch.testing.assert_close(z, (test[0] - train[0].mean(0)) / train[0].std(0))
    _, (zt,) = standardise(train[0], [test[0]], "transductive")
    torch.testing.assert_close(zt, (test[0] - test[0].mean(0)) / test[0].std(0))


def test_layer_out_of_range_is_refused_before_training():
    train, y = planted(10, 3, 4, 0, 1.0, 0)
    with pytest.raises(ConfigError, match="probe.layer=3 is out of range.*3 decoder layers"):
        probe_all_layers(train, y, train, y, train, y, ProbeConfig(layer=3), "inductive", 0)


def test_lora_proxy_takes_the_same_steps_and_merges_back(tiny_pair):
    pytest.importorskip("peft")
    model, tokenizer = tiny_pair
    cfg = ProxyConfig(schedule="paper", lr=5e-2, epochs=2, lora=True, lora_r=4)
    proxy, steps = finetune_proxy(model, tokenizer, [wrap(f"fact {i}") for i in range(6)], cfg,
                                  64, seed=0)
    assert steps == 2 and type(proxy) is type(model)  # merged: a plain Llama again
    before = model.state_dict()
    changed = [k for k, v in proxy.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all("proj" in k for k in changed)  # only adapted projections moved
