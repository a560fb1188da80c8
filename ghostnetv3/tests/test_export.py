"""The fused model exported to ONNX runs in onnxruntime with torch's outputs."""

import pytest
import torch

from ghostnetv3.export import export_onnx, onnxruntime_logits
from ghostnetv3.models import load_model
from ghostnetv3.reparam import randomize_bn, reparameterize_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("arch,width,size", [("ghostnetv3", 0.5, 64), ("shufflenetv2", 0.5, 48)])
def test_onnxruntime_equals_torch(tmp_path, arch, width, size):
    torch.manual_seed(0)
    model = load_model(arch, width, num_classes=10, in_chans=1).eval()
    randomize_bn(model, torch.Generator().manual_seed(1))
    reparameterize_model(model)
    path = export_onnx(model, tmp_path / "model.onnx", size)
    for batch in (1, 3):  # dynamic batch axis
        x = torch.randn(batch, 1, size, size)
        expected = model(x).detach().numpy()
        got = onnxruntime_logits(path, x)
        assert got.shape == (batch, 10)
        assert abs(got - expected).max() <= 1e-4 * max(1.0, abs(expected).max())


def test_export_refuses_unfused_model(tmp_path):
    with pytest.raises(RuntimeError, match="deploy form"):
        export_onnx(load_model("ghostnetv3", 0.5).eval(), tmp_path / "m.onnx", 64)
