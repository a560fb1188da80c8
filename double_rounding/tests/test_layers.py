"""Model conversion: first/last layer float, per-bit BN isolation, precision switching errors."""

import pytest
import torch
from torch import nn

from double_rounding.convert import quant_layers, set_layer_bits, set_precision
from double_rounding.layers import QuantMixin, SwitchableBatchNorm2d
from double_rounding.models import load_model


def test_first_and_last_layers_stay_float(tiny_model):
    model, _ = tiny_model
    assert type(model.conv1) is nn.Conv2d and type(model.fc) is nn.Linear
    assert all(isinstance(m, QuantMixin) for _, m in quant_layers(model))
    assert len(quant_layers(model)) == 8


@pytest.mark.parametrize("arch,n", [("resnet18", 19), ("resnet50", 52), ("mobilenet_v2", 51)])
def test_torchvision_wrappers(arch, n):
    model = load_model(arch, [8, 4], num_classes=10)
    assert len(quant_layers(model)) == n
    set_precision(model, 4)
    model.eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    bn_names = [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn_names and all(".bns." in name for name in bn_names)  # all inside switchable BNs


def test_per_bit_bn_isolation(tiny_model):
    model, x = tiny_model
    model.train()
    bns = [m for m in model.modules() if isinstance(m, SwitchableBatchNorm2d)]
    before = {k: [bn.bns[k].running_mean.clone() for bn in bns] for k in ("fp", "8", "4", "2")}
    set_precision(model, 4)
    model(x)
    for key, means in before.items():
        changed = [not torch.equal(bn.bns[key].running_mean, m) for bn, m in zip(bns, means, strict=True)]
        assert all(changed) if key == "4" else not any(changed), key


def test_transitional_bn_keys():
    model = load_model("resnet20", [4, 3, 2], in_channels=1, width=0.25, blocks_per_stage=1,
                       transitional_bn=True)
    n = len(quant_layers(model))
    bits = [4, 2, 3, 4, 2, 2, 3, 4][:n]
    set_layer_bits(model, bits)
    keys = [model.get_submodule(bn).key for _, bns in model.dr_order for bn in bns]
    assert keys[0] == "4_4"  # stem BN borrows the first quantized layer's bits
    assert keys[1] == "4_4" and keys[2] == "4_2" and keys[3] == "2_3"
    assert [layer.bits for _, layer in quant_layers(model)] == bits


def test_precision_errors(tiny_model):
    model, _ = tiny_model
    with pytest.raises(ValueError, match="above the stored precision 8"):
        set_precision(model, 10)
    with pytest.raises(ValueError, match="not in the trained bit list"):
        set_precision(model, 5)
    with pytest.raises(ValueError, match="layer_bits has 3 entries"):
        set_layer_bits(model, [8, 8, 8])


def test_float_mode_matches_unquantized_network():
    torch.manual_seed(1)
    model = load_model("resnet20", [8, 4], in_channels=1, width=0.25, blocks_per_stage=1)
    from double_rounding.models import build_float

    torch.manual_seed(1)
    ref = build_float("resnet20", 10, 1, 0.25, 1)
    model.eval()
    ref.eval()
    set_precision(model, None)
    x = torch.randn(2, 1, 32, 32)
    assert torch.allclose(model(x), ref(x), atol=1e-6)
