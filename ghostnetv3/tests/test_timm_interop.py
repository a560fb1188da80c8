"""timm's ghostnetv3_* (random weights, no hub) and the official checkpoint layout load into our
modules with identical logits, in the multi-branch and in the deploy form."""

import pytest
import torch

from ghostnetv3.models import load_model
from ghostnetv3.reparam import randomize_bn, reparameterize_model
from ghostnetv3.timm_interop import load_official_checkpoint, load_timm_state_dict

timm = pytest.importorskip("timm")


def timm_model(name):
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10).eval()
    randomize_bn(model, torch.Generator().manual_seed(5))
    return model


@pytest.mark.parametrize("name,width", [("ghostnetv3_050", 0.5), ("ghostnetv3_130", 1.3)])
def test_timm_weights_give_identical_logits(name, width):
    theirs = timm_model(name)
    ours = load_timm_state_dict(load_model("ghostnetv3", width, num_classes=10).eval(),
                                theirs.state_dict())
    x = torch.randn(2, 3, 64, 80)
    assert torch.equal(ours(x), theirs(x))
    # deploy forms: ours fused from our branches vs timm's fused model, and timm's fused state
    # dict loaded into our fused skeleton
    theirs.convert_to_deploy()
    reparameterize_model(ours)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    skeleton = reparameterize_model(load_model("ghostnetv3", width, num_classes=10).eval())
    load_timm_state_dict(skeleton, theirs.state_dict())
    assert torch.equal(skeleton(x), theirs(x))


def test_official_layout_with_ema_and_thop_buffers(tmp_path):
    theirs = timm_model("ghostnetv3_050")
    official = {}
    for k, v in theirs.state_dict().items():  # the release says bn. where timm says bn1.
        if ".ghost" in k or ".dw_rpr_" in k:
            k = k.replace("bn1.", "bn.")
        official[k] = v
    official["total_ops"] = torch.zeros(1)
    official["blocks.0.0.ghost1.total_params"] = torch.zeros(1)
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in official.items()}
    path = tmp_path / "ghostnetv3-0.5.pth.tar"
    torch.save({"state_dict": official, "state_dict_ema": ema, "epoch": 3}, path)
    x = torch.randn(1, 3, 64, 64)
    raw = load_official_checkpoint(load_model("ghostnetv3", 0.5, num_classes=10).eval(), path,
                                   ema=False)
    assert torch.equal(raw(x), theirs(x))
    with_ema = load_official_checkpoint(load_model("ghostnetv3", 0.5, num_classes=10).eval(), path)
    assert torch.equal(with_ema.stem.conv.weight, theirs.conv_stem.weight + 1)


def test_checkpoint_of_another_width_is_named():
    theirs = timm_model("ghostnetv3_050")
    with pytest.raises(ValueError, match=r"0.5x model but the model is 1.0x; set model.width=0.5"):
        load_timm_state_dict(load_model("ghostnetv3", 1.0, num_classes=10), theirs.state_dict())


def test_fused_checkpoint_into_branch_model_is_named():
    theirs = timm_model("ghostnetv3_050")
    theirs.convert_to_deploy()
    with pytest.raises(ValueError, match="fused \\(deploy\\) checkpoint needs a reparameterized"):
        load_timm_state_dict(load_model("ghostnetv3", 0.5, num_classes=10), theirs.state_dict())


def test_fused_param_count_equals_timm_ghostnetv2():
    from ghostnetv3.cost import deploy_param_count

    v2 = timm.create_model("ghostnetv2_100", pretrained=False)
    ours = reparameterize_model(load_model("ghostnetv3", 1.0).eval())
    assert deploy_param_count(ours) == deploy_param_count(v2)
