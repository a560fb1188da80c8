"""Export the fused (deploy) model to ONNX and check onnxruntime against torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ghostnetv3.reparam import is_fused


def export_onnx(model: nn.Module, path: str | Path, image_size: int, opset: int = 17) -> Path:
    """Write `model` (must be fused and in eval mode) to ONNX with a dynamic batch axis."""
    if model.training or not is_fused(model):
        raise RuntimeError("export_onnx exports the deploy form: call model.eval() and "
                           "reparameterize_model(model) first")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    x = torch.zeros(1, model.in_chans, image_size, image_size)
    torch.onnx.export(model, (x,), str(tmp), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=opset, dynamo=False)
    os.replace(tmp, path)
    return path


def onnxruntime_session(path: str | Path, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnxruntime_logits(path: str | Path, x: torch.Tensor) -> np.ndarray:
    return onnxruntime_session(path).run(["logits"], {"images": x.numpy()})[0]
