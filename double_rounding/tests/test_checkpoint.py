"""Export -> load gives identical integers and outputs; size; resume; clear errors (A4-2, A4-12)."""

import json

import pytest
import torch

from double_rounding.alrs import ALRS
from double_rounding.checkpoint import (
    CheckpointError,
    export_int8,
    latest_unit,
    load_int8,
    load_training,
    save_training,
    verify_unit,
)
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
    # the metadata travels in the safetensors header: a stale .json beside it is not trusted
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["arch"]["width"] = 0.5
    (tmp_path / "m.json").write_text(json.dumps(meta))
    assert load_int8(tmp_path / "m.safetensors").dr_arch["width"] == 0.25
    with pytest.raises(FileNotFoundError, match="missing.safetensors does not exist"):
        load_int8(tmp_path / "missing.safetensors")


def test_truncated_export_names_file_and_recovery(tiny_model, tmp_path):
    model, _ = tiny_model
    path = tmp_path / "m.safetensors"
    export_int8(model, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"m\.safetensors is not a readable safetensors.*re-export"):
        load_int8(path)


def _unit(tmp_path):
    model, tr = _fresh()
    tr.step_count, tr.epoch = 3, 1
    return save_training(tmp_path / "checkpoints", model, tr, {"config_hash": "h"})


def test_checkpoint_unit_is_one_rename_and_replaces_the_previous(tmp_path):
    model, tr = _fresh()
    first = save_training(tmp_path / "c", model, tr, {"config_hash": "h"})
    tr.step_count = 5
    second = save_training(tmp_path / "c", model, tr, {"config_hash": "h"})
    assert not first.exists() and sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        second.name]
    assert sorted(p.name for p in second.iterdir()) == ["manifest.json", "meta.json",
                                                         "state.safetensors"]
    assert verify_unit(second, "h")["step"] == 5


@pytest.mark.parametrize("damage,match", [
    ("drop_manifest", "incomplete: manifest.json is missing"),
    ("drop_state", "incomplete: state.safetensors is missing"),
    ("truncate_state", "does not match the SHA-256"),
    ("foreign_meta", "does not match the SHA-256"),
    ("other_config", "was written by config h, this run is other"),
    ("bad_manifest", "manifest.json: not valid JSON at line 1"),
])
def test_torn_or_foreign_unit_is_refused(tmp_path, damage, match):
    unit = _unit(tmp_path)
    expected = "other" if damage == "other_config" else "h"
    if damage == "drop_manifest":
        (unit / "manifest.json").unlink()
    elif damage == "drop_state":
        (unit / "state.safetensors").unlink()
    elif damage == "truncate_state":
        data = (unit / "state.safetensors").read_bytes()
        (unit / "state.safetensors").write_bytes(data[:100])
    elif damage == "foreign_meta":  # the step counter of another save next to these weights
        meta = json.loads((unit / "meta.json").read_text())
        meta["step"] = 2
        (unit / "meta.json").write_text(json.dumps(meta))
    elif damage == "bad_manifest":
        (unit / "manifest.json").write_text('{"step": 3, "files": {')
    model, tr = _fresh()
    with pytest.raises(CheckpointError, match=match) as err:
        load_training(unit, model, tr, config_hash=expected)
    assert str(unit) in str(err.value) and "overwrite=true" in str(err.value)
    assert tr.step_count == 0  # nothing was loaded


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
    unit = save_training(tmp_path / "checkpoints", model, tr, {"config_hash": "h"})
    assert unit == latest_unit(tmp_path / "checkpoints") and unit.name == "step-000000002"
    resumed, res_tr = _fresh()
    load_training(unit, resumed, res_tr, config_hash="h")
    assert res_tr.step_count == 2
    for x, y in batches[2:]:
        res_tr.train_step(x, y)
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
