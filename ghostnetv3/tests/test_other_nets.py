"""The same re-parameterisation on MobileNetV2 and ShuffleNetV2 blocks."""

import pytest
import torch

from ghostnetv3.cost import count_macs, deploy_param_count, same_graph
from ghostnetv3.models import load_model
from ghostnetv3.reparam import RepConv, is_fused, randomize_bn, reparameterize_model


@pytest.mark.parametrize("arch,width", [("mobilenetv2", 0.5), ("shufflenetv2", 0.5),
                                        ("shufflenetv2", 1.0)])
@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (2, 3, 48, 80)])
def test_fusion_equivalence_float64(arch, width, shape):
    torch.manual_seed(0)
    model = load_model(arch, width, num_classes=10).double().eval()
    randomize_bn(model, torch.Generator().manual_seed(2))
    x = torch.randn(shape, dtype=torch.float64)
    before = model(x)
    reparameterize_model(model)
    assert is_fused(model)
    torch.testing.assert_close(model(x), before, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("arch", ["mobilenetv2", "shufflenetv2"])
def test_deploy_graph_equals_plain(arch):
    rep = reparameterize_model(load_model(arch, 1.0).eval())
    plain = reparameterize_model(load_model(arch, 1.0, reparam=False).eval())
    assert same_graph(rep, plain)
    assert deploy_param_count(rep) == deploy_param_count(plain)
    assert count_macs(rep, (1, 3, 64, 64)) == count_macs(plain, (1, 3, 64, 64))


def test_depthwise_convs_get_scale_and_identity():
    model = load_model("mobilenetv2", 1.0)
    dws = [m for n, m in model.named_modules() if n.endswith(".dw")]
    assert len(dws) == 17
    assert all(m.branch_counts["scale"] == 1 for m in dws)
    # identity only at stride 1 (13 of the 17 depthwise convs in MobileNetV2)
    assert sum(m.branch_counts["identity"] for m in dws) == 13
    convs = [m for m in model.modules() if isinstance(m, RepConv)]
    assert all(m.branch_counts["conv"] == 3 for m in convs)
