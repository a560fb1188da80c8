"""Last-token residual-stream activations at every decoder layer.

A forward hook on each decoder layer reads its raw output: the residual stream *before* the
model's final norm. For layer l < L-1 this equals ``hidden_states[l + 1]``; for the last layer
HF's ``hidden_states[-1]`` is post-norm, so the hook is the only way to the pre-norm value.
transformers 5 decoder layers return a bare tensor (4.x returned a tuple): both are handled.
"""

from __future__ import annotations

import torch

from probing_mia.model import decoder_layers, encode
from probing_mia.training import pad_batch


def _output_tensor(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def last_token_activations(model, tokenizer, texts: list[str], max_length: int,
                           batch_size: int = 16) -> torch.Tensor:
    """[layers, len(texts), hidden] float32, read at each text's last real token."""
    model.eval()
    layers = decoder_layers(model)
    captured: list[torch.Tensor | None] = [None] * len(layers)

    def hook_for(index: int):
        def hook(_module, _inputs, output):
            captured[index] = _output_tensor(output)
        return hook

    handles = [layer.register_forward_hook(hook_for(i)) for i, layer in enumerate(layers)]
    chunks = []
    try:
        for start in range(0, len(texts), batch_size):
            seqs = [encode(tokenizer, t, max_length) for t in texts[start:start + batch_size]]
            ids, mask = pad_batch(seqs, tokenizer.pad_token_id)
            model(input_ids=ids, attention_mask=mask)
            last = mask.sum(1) - 1  # right padding: the last real token
            rows = torch.arange(len(seqs))
            chunks.append(torch.stack([c[rows, last].float() for c in captured]))
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(chunks, dim=1)
