import pytest
import torch
from diffusiondialog.model import bow_targets, load_bart_weights
from transformers import BartConfig, BartModel


def _enc(model, batch):
    return model.encode_context(batch["context_ids"], batch["context_mask"], batch["roles"],
                                batch["turns"])


def test_matches_transformers_bart(make_model, batch):
    """With role/turn embeddings zeroed and no latent, our layers are exactly HF BART."""
    ours = make_model(use_latent=False)
    with torch.no_grad():
        ours.role_embed.weight.zero_()
        ours.turn_embed.weight.zero_()
    hf = BartModel(BartConfig(**ours.spec.bart)).eval()
    missing = load_bart_weights(ours, {f"model.{k}": v for k, v in hf.state_dict().items()})
    assert missing == ["final_logits_bias", "role_embed.weight", "turn_embed.weight"]
    with torch.no_grad():
        out = hf(input_ids=batch["context_ids"], attention_mask=batch["context_mask"],
                 decoder_input_ids=batch["decoder_input_ids"])
        enc = _enc(ours, batch)
        x = ours.decoder.embed(ours.shared(batch["decoder_input_ids"]))
        logits = ours.decode_logits(batch["decoder_input_ids"], enc, batch["context_mask"])
    m = batch["context_mask"].bool()
    assert torch.allclose(enc[m], out.encoder_last_hidden_state[m], atol=1e-5)
    want = out.last_hidden_state @ hf.shared.weight.T
    assert torch.allclose(logits, want, atol=1e-4)
    assert x.shape[-1] == ours.cfg.d_model


def test_latent_changes_logits_at_every_position(make_model, batch):
    model = make_model()
    with torch.no_grad():
        enc = _enc(model, batch)
        z1, z2 = torch.randn(2, 6, 1, 32, generator=torch.Generator().manual_seed(0))
        a = model.decode_logits(batch["decoder_input_ids"], enc, batch["context_mask"], z1)
        b = model.decode_logits(batch["decoder_input_ids"], enc, batch["context_mask"], z2)
    per_pos = (a - b).abs().amax(dim=-1)
    assert (per_pos > 1e-4).all()  # including position 0


def test_no_latent_path_equals_bart_baseline(make_model, batch):
    dd, base = make_model(use_latent=True, seed=0), make_model(use_latent=False, seed=1)
    missing = load_bart_weights(base, dd.state_dict())
    assert missing == []
    with torch.no_grad():
        a = dd.decode_logits(batch["decoder_input_ids"], _enc(dd, batch), batch["context_mask"])
        b = base.decode_logits(batch["decoder_input_ids"], _enc(base, batch),
                               batch["context_mask"])
    assert torch.equal(a, b)


def test_zero_prefix_is_not_a_no_op(make_model, batch):
    """A zero key/value still takes softmax mass, so only latent=None reproduces the baseline."""
    dd = make_model()
    with torch.no_grad():
        for layer in dd.decoder.layers:
            for lin in (layer.latent_K, layer.latent_V):
                lin.weight.zero_()
                lin.bias.zero_()
        enc = _enc(dd, batch)
        z = torch.zeros(6, 1, 32)
        a = dd.decode_logits(batch["decoder_input_ids"], enc, batch["context_mask"], z)
        b = dd.decode_logits(batch["decoder_input_ids"], enc, batch["context_mask"])
    assert not torch.allclose(a, b)


def test_response_tokens_do_not_see_latent_slot(make_model, batch):
    model = make_model()
    ids, mask = batch["decoder_input_ids"], batch["decoder_mask"]
    states = model.response_states(ids, mask)
    # A random readout: a plain sum of LayerNorm outputs is constant and has no gradient.
    w = torch.randn(states.shape[-1], generator=torch.Generator().manual_seed(0))
    real = torch.cat([torch.zeros(6, 1), mask.float()], 1)[..., None]
    (g_tok,) = torch.autograd.grad((states[:, 1:] * real[:, 1:] * w).sum(), model.latent_slot,
                                   retain_graph=True)
    (g_slot,) = torch.autograd.grad((states[:, :1] * w).sum(), model.latent_slot)
    assert g_tok.abs().max() == 0 and g_slot.abs().max() > 0


def test_pad_tokens_do_not_change_latent(make_model, batch):
    model = make_model()
    ids = batch["decoder_input_ids"].clone()
    mask = batch["decoder_mask"]
    row = int((mask.sum(1) < mask.shape[1]).nonzero()[0])
    ids2 = ids.clone()
    ids2[row][mask[row] == 0] = 7
    with torch.no_grad():
        assert torch.allclose(model.encode_latent(ids, mask), model.encode_latent(ids2, mask),
                              atol=1e-6)


def test_latent_is_layernormed(make_model, batch):
    model = make_model()
    with torch.no_grad():
        h = model.encode_latent(batch["decoder_input_ids"], batch["decoder_mask"])
    assert h.shape == (6, 1, 32)
    # LayerNorm affine starts at identity: per-vector mean 0, std 1.
    assert h.mean(-1).abs().max() < 1e-5
    assert torch.allclose(h.std(-1, unbiased=False), torch.ones(6, 1), atol=1e-3)


def test_gradient_routing(make_model, batch):
    model = make_model(loss_weights={"diffusion": 0.0, "reconstruction": 1.0, "bow": 0.0})
    model(batch)["loss"].backward()
    den = [p.grad for p in model.denoiser.parameters()]
    assert all(g is None or g.abs().max() == 0 for g in den)  # stop-gradient on z0_hat
    model.zero_grad()
    model.spec.loss_weights = {"diffusion": 0.0, "reconstruction": 0.0, "bow": 1.0}
    model(batch)["loss"].backward()
    assert model.latent_slot.grad.abs().max() > 0  # BOW trains the response encoder
    # The BOW head's vocabulary projection is detached: the only path into `shared` is the
    # response encoder's token embeddings, so rows of tokens absent from all responses get none.
    used = batch["decoder_input_ids"].unique()
    unused = torch.ones(model.cfg.vocab_size, dtype=torch.bool)
    unused[used] = False
    assert model.shared.weight.grad[unused].abs().max() == 0
    model.zero_grad()
    model.spec.loss_weights = {"diffusion": 1.0, "reconstruction": 0.0, "bow": 0.0}
    model(batch)["loss"].backward()
    assert model.latent_slot.grad.abs().max() > 0  # z0 is not detached in the MSE


def test_bow_target_construction():
    labels = torch.tensor([[5, 6, 5, 2, -100], [7, 2, -100, -100, -100]])
    ids, w = bow_targets(labels)
    assert ids.tolist() == [[5, 6, 5, 2, 0], [7, 2, 0, 0, 0]]
    assert w.tolist() == [[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]]


def test_bow_loss_hand_computed(make_model):
    model = make_model()
    z0 = torch.randn(1, 1, 32)
    labels = torch.tensor([[5, 6, 5, -100]])
    logp = torch.log_softmax(model.bow_head(z0[:, 0]) @ model.shared.weight.T, -1)[0]
    want = -(2 * logp[5] + logp[6]) / 3
    assert model.bow_loss(z0, labels).item() == pytest.approx(want.item(), rel=1e-5)


def test_x0_loss_decreases_on_fixed_batch(make_model, batch):
    model = make_model(loss_weights={"diffusion": 1.0, "reconstruction": 0.0, "bow": 0.0})
    model.train()
    enc = _enc(model, batch).detach()
    with torch.no_grad():
        z0 = model.encode_latent(batch["decoder_input_ids"], batch["decoder_mask"])
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, 2000, (6,), generator=g)
    xt = model.diffusion.q_sample(z0, t, torch.randn(z0.shape, generator=g))
    opt = torch.optim.Adam(model.denoiser.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model.diffusion.x0_loss(model.denoise(xt, t, enc, batch["context_mask"]),
                                       z0).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_unknown_loss_weight_is_rejected(make_model):
    with pytest.raises(ValueError, match="loss_weights"):
        make_model(loss_weights={"kl": 1.0})


def test_gold_reconstruction_ablation_trains_the_latent_path(make_model, batch):
    model = make_model(loss_weights={"diffusion": 0.0, "reconstruction": 0.0, "bow": 0.0,
                                     "gold_reconstruction": 1.0})
    out = model(batch)
    out["loss"].backward()
    assert out["loss"].item() == pytest.approx(out["gold_reconstruction"].item())
    assert model.latent_slot.grad.abs().max() > 0
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in model.denoiser.parameters())
