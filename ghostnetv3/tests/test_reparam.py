"""RepConv: the multi-branch sum equals the fused conv (randomised BN statistics)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ghostnetv3.reparam import RepConv, randomize_bn, reparameterize_model


@given(kernel=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]),
       depthwise=st.booleans(), branches=st.integers(1, 4), scale=st.booleans(),
       identity=st.booleans(), h=st.integers(5, 12), w=st.integers(5, 12),
       batch=st.sampled_from([1, 3]), seed=st.integers(0, 2**16))
def test_fused_equals_branches_float64(kernel, stride, depthwise, branches, scale, identity, h, w,
                                       batch, seed):
    torch.manual_seed(seed)
    ch = 6
    conv = RepConv(ch, ch, kernel, stride, groups=ch if depthwise else 1, conv_branches=branches,
                   scale=scale, identity=identity).double().eval()
    randomize_bn(conv, torch.Generator().manual_seed(seed))
    x = torch.randn(batch, ch, h, w, dtype=torch.float64)
    before = conv(x)
    conv.reparameterize()
    after = conv(x)
    assert after.shape == before.shape
    torch.testing.assert_close(after, before, rtol=1e-10, atol=1e-10)


def test_grouped_identity_kernel_non_depthwise_groups():
    # groups=2 with 8 channels: each channel's identity slot is c mod 4 inside its group
    conv = RepConv(8, 8, 3, groups=2, conv_branches=2, scale=True, identity=True).double().eval()
    randomize_bn(conv, torch.Generator().manual_seed(1))
    x = torch.randn(2, 8, 7, 9, dtype=torch.float64)
    before = conv(x)
    conv.reparameterize()
    torch.testing.assert_close(conv(x), before, rtol=1e-10, atol=1e-10)


def test_branch_counts_and_no_bn_after_fusion():
    conv = RepConv(4, 4, 3, groups=4, conv_branches=3, scale=True, identity=True).eval()
    assert conv.branch_counts == {"conv": 3, "scale": 1, "identity": 1, "fused": 0}
    conv.reparameterize()
    assert conv.branch_counts == {"conv": 0, "scale": 0, "identity": 0, "fused": 1}
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in conv.modules())
    assert conv.fused.bias is not None


def test_identity_and_scale_only_where_they_exist():
    # identity needs in == out and stride 1; a 1x1 kernel has no separate scale branch
    assert RepConv(4, 4, 3, 2, groups=4, scale=True, identity=True).branch_counts["identity"] == 0
    assert RepConv(4, 8, 3, identity=True).branch_counts["identity"] == 0
    assert RepConv(4, 8, 1, scale=True).branch_counts["scale"] == 0


def test_fusing_in_train_mode_is_refused():
    conv = RepConv(4, 4, 3)
    with pytest.raises(RuntimeError, match="model.eval"):
        conv.reparameterize()
    with pytest.raises(RuntimeError, match="model.eval"):
        reparameterize_model(torch.nn.Sequential(conv))


def test_bad_branch_settings_rejected():
    with pytest.raises(ValueError, match="conv_branches"):
        RepConv(4, 4, 3, conv_branches=0)
    with pytest.raises(ValueError, match="odd kernel"):
        RepConv(4, 4, 2)
