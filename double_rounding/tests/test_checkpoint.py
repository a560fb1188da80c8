"""Export -> load gives identical integers and outputs; size; resume; clear errors (A4-2, A4-12)."""

import json

import pytest
import torch

from double_rounding.alrs import ALRS
from double_rounding.checkpoint import export_int8, load_int8, load_training, save_training
from double_rounding.convert import calibrate, quant_layers, set_precision
from double_rounding.models import load_model
from double_rounding.trainer import MultiPrecisionTrainer

BITS = [8, 6, 4, 2]


def test_export_load_bit_identical(tiny_model, tmp_path):
    model, x = tiny_model
    y = torch.arange(len(x)) % 10
    trainer = MultiPrecisionTrainer(model, BITS, lr=1e-2, alrs=ALRS("eta", 8), total_steps=3)
    for _ in range(2):  # move weights and scales away from their initial values
        trainer.train_step(x, y)
    sizes = export_int8(model, tmp_path / "m.safetensors")
    assert sizes["ratio"] <= 0.26
    loaded = load_int8(tmp_path / "m.safetensors", expected_arch="resnet20")
    model.eval()
    loaded.eval()
    for (_, a), (_, b) in zip(quant_layers(model), quant_layers(loaded), strict=True):
        assert b.stored.dtype == torch.int8
        assert not hasattr(b, "weight") or b.weight is None
        for bits in BITS:
            assert torch.equal(a.integer_weight(bits), b.integer_weight(bits))
    for bits in BITS:
        set_precision(model, bits)
        set_precision(loaded, bits)
        assert torch.equal(model(x), loaded(x)), bits
    with pytest.raises(ValueError, match="above the stored precision"):
        set_precision(loaded, 9 - 1 + 1)


def test_wrong_architecture_rejected(tiny_model, tmp_path):
    model, _ = tiny_model
    export_int8(model, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="is a 'resnet20' model, expected 'resnet18'"):
        load_int8(tmp_path / "m.safetensors", expected_arch="resnet18")
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["arch"]["width"] = 0.5  # same name, different shapes
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match the model"):
        load_int8(tmp_path / "m.safetensors")
    with pytest.raises(FileNotFoundError, match="needs both"):
        load_int8(tmp_path / "missing.safetensors")


def _fresh():
    torch.manual_seed(0)
    model = load_model("resnet20", [8, 4], in_channels=1, width=0.25, blocks_per_stage=1)
    calibrate(model, torch.randn(8, 1, 32, 32, generator=torch.Generator().manual_seed(1)), [8, 4])
    return model, MultiPrecisionTrainer(model, [8, 4], lr=1e-2, alrs=ALRS("clamped", 8),
                                        total_steps=4)


def test_resume_reproduces_uninterrupted_run(tmp_path):
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(8, 1, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g))
               for _ in range(4)]
    ref, ref_tr = _fresh()
    for x, y in batches:
        ref_tr.train_step(x, y)
    model, tr = _fresh()
    for x, y in batches[:2]:
        tr.train_step(x, y)
    save_training(tmp_path / "last.safetensors", model, tr, {})
    resumed, res_tr = _fresh()
    load_training(tmp_path / "last.safetensors", resumed, res_tr)
    assert res_tr.step_count == 2
    for x, y in batches[2:]:
        res_tr.train_step(x, y)
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
