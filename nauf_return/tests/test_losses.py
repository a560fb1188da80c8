import math

import pytest
import torch

from nauf_return.errors import ConfigError
from nauf_return.losses import (
    ALIASES,
    answer_kl,
    compute_loss,
    parse_method,
    sequence_logprob,
    token_nll,
)
from nauf_return.model import tiny_llama, word_tokenizer
from nauf_return.prompting import PromptFormat, pad_batch

BETA = 0.1


@pytest.fixture(scope="module")
def setup():
    texts = ["Where was Ann Lee born? She was born in Paris. I don't know. Sorry, I can't "
             "discuss Ann Lee. Who is Bob Roe married to? He is married to Kim Yu."]
    tok = word_tokenizer(texts)
    model = tiny_llama(tok, hidden=32, layers=1, heads=2, seed=0)
    fmt = PromptFormat("Question: {question} Answer:")
    enc = [fmt.encode(tok, "Where was Ann Lee born?", "She was born in Paris."),
           fmt.encode(tok, "Who is Bob Roe married to?", "He is married to Kim Yu.")]
    idk = [fmt.encode(tok, "Where was Ann Lee born?", "I don't know."),
           fmt.encode(tok, "Who is Bob Roe married to?", "I don't know.")]
    ref = [fmt.encode(tok, "Where was Ann Lee born?", "Sorry, I can't discuss Ann Lee."),
           fmt.encode(tok, "Who is Bob Roe married to?", "Sorry, I can't discuss Ann Lee.")]
    pad = tok.pad_token_id
    batch = {"forget": pad_batch(enc, pad), "idk": pad_batch(idk, pad),
             "refuse": pad_batch(ref, pad), "retain": pad_batch(enc[::-1], pad)}
    return model, batch


def fwd(model):
    return lambda inputs: model(**inputs).logits


def test_method_registry_names_and_errors():
    assert parse_method("nauf").name == "augmented_refuse_kl_minimization"
    assert parse_method("augmented_refuse_difference") == parse_method("nauf_gd")
    assert parse_method("rgd").name == "idk_difference"
    for alias in ALIASES:
        parse_method(alias)
    with pytest.raises(ConfigError, match="unknown method 'forgetful'"):
        parse_method("forgetful")


def test_ga_is_negative_ce(setup):
    model, batch = setup
    loss, _ = compute_loss(parse_method("ga"), fwd(model), None, batch)
    ce = token_nll(model(**{k: batch["forget"][k] for k in ("input_ids", "attention_mask")}
                         ).logits, batch["forget"]["labels"])
    assert loss.item() == pytest.approx(-ce.item()) and ce.item() > 0


def test_npo_at_init_is_two_over_beta_log2_and_grad_is_summed_logprob_grad(setup):
    model, batch = setup
    loss, _ = compute_loss(parse_method("npo"), fwd(model), fwd(model), batch, BETA)
    assert loss.item() == pytest.approx(2 / BETA * math.log(2), rel=1e-5)
    model.zero_grad()
    loss.backward()
    g_npo = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    f = batch["forget"]
    logits = model(input_ids=f["input_ids"], attention_mask=f["attention_mask"]).logits
    sequence_logprob(logits, f["labels"]).mean().backward()  # = -(summed NLL), i.e. GA
    for a, p in zip(g_npo, model.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad, rtol=1e-4, atol=1e-6)
    model.zero_grad()


@pytest.mark.parametrize("name", ["idk_dpo", "refuse_dpo"])
def test_dpo_at_init_is_log2(setup, name):
    model, batch = setup
    loss, _ = compute_loss(parse_method(name), fwd(model), fwd(model), batch, BETA)
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)


def test_kl_is_zero_with_identical_models_and_has_zero_grad(setup):
    model, batch = setup
    r = batch["retain"]
    with torch.no_grad():
        ref = model(input_ids=r["input_ids"], attention_mask=r["attention_mask"]).logits
    logits = model(input_ids=r["input_ids"], attention_mask=r["attention_mask"]).logits
    kl = answer_kl(ref, logits, r["labels"])
    kl.backward()
    assert abs(kl.item()) < 1e-6
    assert max(p.grad.abs().max().item() for p in model.parameters()) < 1e-6
    model.zero_grad()


def test_kl_ignores_prompt_and_padding_positions(setup):
    model, batch = setup
    r = batch["retain"]
    with torch.no_grad():
        logits = model(input_ids=r["input_ids"], attention_mask=r["attention_mask"]).logits
    other = logits + torch.randn_like(logits)
    masked = (r["labels"][:, 1:] == -100)  # positions whose prediction is not supervised
    noisy = logits.clone()
    noisy[:, :-1][masked] += 5 * torch.randn_like(noisy[:, :-1][masked])
    noisy[:, -1] += 5.0
    assert answer_kl(logits, noisy, r["labels"]).item() == pytest.approx(0.0, abs=1e-6)
    assert answer_kl(logits, other, r["labels"]).item() > 0.01


def test_label_masking_only_answer_tokens_count(setup):
    model, batch = setup
    f = batch["forget"]
    logits = model(input_ids=f["input_ids"], attention_mask=f["attention_mask"]).logits
    base = token_nll(logits, f["labels"]).item()
    changed = logits.clone()
    prompt = f["labels"][:, 1:] == -100
    changed[:, :-1][prompt] = torch.randn_like(changed[:, :-1][prompt])
    assert token_nll(changed, f["labels"]).item() == pytest.approx(base, rel=1e-6)
    # The mask covers exactly the prompt: the first supervised label is the answer start.
    row = f["labels"][0]
    n_answer = int((row != -100).sum())
    assert n_answer == len(f["input_ids"][0][f["attention_mask"][0] == 1]) - int(
        (row[: int(f["attention_mask"][0].sum())] == -100).sum())


def test_reference_required():
    with pytest.raises(ConfigError, match="reference"):
        compute_loss(parse_method("npo"), lambda x: None, None, {})
