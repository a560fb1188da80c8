import torch
from diffusiondialog.decoding import beam_search, greedy, nucleus_sample
from diffusiondialog.inference import DecodeSettings, generate


def _enc(model, batch):
    with torch.no_grad():
        return model.encode_context(batch["context_ids"], batch["context_mask"],
                                    batch["roles"], batch["turns"])


def test_beam_one_equals_greedy(make_model, batch):
    model = make_model()
    enc, mask = _enc(model, batch), batch["context_mask"]
    z = torch.randn(6, 1, 32, generator=torch.Generator().manual_seed(0))
    assert beam_search(model, enc, mask, z, beams=1, max_len=8) == greedy(model, enc, mask, z,
                                                                           max_len=8)


def test_beam_is_permutation_equivariant_across_batch(make_model, batch):
    """Each example's beams use that example's own latent and context."""
    model = make_model()
    enc, mask = _enc(model, batch), batch["context_mask"]
    z = torch.randn(6, 1, 32, generator=torch.Generator().manual_seed(1)) * 3
    out = beam_search(model, enc, mask, z, beams=3, max_len=8)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out_p = beam_search(model, enc[perm], mask[perm], z[perm], beams=3, max_len=8)
    assert out_p == [out[i] for i in perm.tolist()]


def test_beam_finds_higher_score_than_greedy(make_model, batch):
    model = make_model()
    enc, mask = _enc(model, batch), batch["context_mask"]

    def logp(seq_ids, i):
        dec = torch.tensor([[2] + seq_ids + [2]])
        with torch.no_grad():
            lp = torch.log_softmax(model.decode_logits(dec[:, :-1], enc[i:i + 1],
                                                       mask[i:i + 1]), -1)
        return lp[0].gather(1, dec[:, 1:].T).sum().item() / (len(seq_ids) + 1)

    g = greedy(model, enc, mask, max_len=6)
    b = beam_search(model, enc, mask, beams=4, max_len=6)
    for i in range(6):
        if len(g[i]) < 6 and len(b[i]) < 6:  # both finished: compare normalised scores
            assert logp(b[i], i) >= logp(g[i], i) - 1e-5


def test_nucleus_with_tiny_p_is_greedy():
    logp = torch.log_softmax(torch.randn(4, 50, generator=torch.Generator().manual_seed(2)), -1)
    assert torch.equal(nucleus_sample(logp, 1e-6), logp.argmax(-1))


def test_generation_is_seeded_and_latents_drive_diversity(make_model, tok):
    model = make_model()
    with torch.no_grad():  # make the latent matter strongly for the untrained model
        for layer in model.decoder.layers:
            layer.latent_V.weight.mul_(200)
            layer.latent_K.weight.mul_(200)
    ctx = [["hi how are you doing today"], ["do you like pizza", "yes i love pizza"]]
    s = DecodeSettings(method="greedy", max_len=6, ddim_steps=5, clamp=None)
    a = generate(model, tok, ctx, 4, s, seed=0, max_source=48)
    assert a == generate(model, tok, ctx, 4, s, seed=0, max_source=48)
    assert len(a) == 2 and all(len(x) == 4 for x in a)
    assert any(len(set(x)) > 1 for x in a)


def test_constant_latent_gives_one_response(make_model, tok, monkeypatch):
    model = make_model()
    monkeypatch.setattr(model, "sample_latent", lambda enc, *a, **k: torch.ones(
        enc.shape[0], 1, 32))
    ctx = [["hi how are you doing today"]]
    out = generate(model, tok, ctx, 5, DecodeSettings(method="greedy", max_len=6), seed=0)
    assert len(set(out[0])) == 1
