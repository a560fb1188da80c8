"""A character-level tokenizer with a plain-text chat template, for the random smoke target.

``model.spec=random-tiny`` (``experiment=smoke``) runs the whole train/eval pipeline in seconds
without the SmolLM2 asset; it needs a tokenizer with the three HF methods the pipeline calls.
Ids are code points (anything >= ``vocab`` maps to ``vocab - 1``), so offsets are exact.
"""

from __future__ import annotations

import torch

ROLE_TAG = {"user": "<|user|>\n", "assistant": "<|assistant|>\n", "system": "<|system|>\n"}


class ByteChatTokenizer:
    def __init__(self, vocab: int = 256) -> None:
        self.vocab = vocab

    def _ids(self, text: str) -> list[int]:
        return [min(ord(ch), self.vocab - 1) for ch in text]

    def apply_chat_template(self, conv: list[dict], tokenize: bool = True,
                            add_generation_prompt: bool = False,
                            return_tensors: str | None = None):  # noqa: ANN201 - HF signature
        text = "".join(ROLE_TAG[t["role"]] + t["content"] + "\n" for t in conv)
        if add_generation_prompt:
            text += ROLE_TAG["assistant"]
        if not tokenize:
            return text
        ids = self._ids(text)
        return torch.tensor([ids]) if return_tensors == "pt" else ids

    def __call__(self, text: str, return_offsets_mapping: bool = False,
                 add_special_tokens: bool = False) -> dict:  # noqa: ARG002 - HF signature
        out: dict = {"input_ids": self._ids(text)}
        if return_offsets_mapping:
            out["offset_mapping"] = [(i, i + 1) for i in range(len(text))]
        return out

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:  # noqa: ARG002
        return "".join(chr(i) for i in ids)
