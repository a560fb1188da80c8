"""Chat formatting and answer-only label masking (our own collator; trl dropped its one).

A training text is the chat template applied to [user: instruction(q), assistant: a]. The prompt
is tokenised with the generation header, the answer (plus EOS) separately, so the label mask is
exactly the answer tokens whatever the template looks like.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PAPER_INSTRUCTION = ("Answer the given question in no more than one sentence.\n"
                     "Please keep your answer short and concise.\nQuestion: {question}\nAnswer:")


@dataclass(frozen=True)
class PromptFormat:
    instruction: str = PAPER_INSTRUCTION
    max_length: int = 256
    # None: the chat template's default system prompt (SmolLM2 adds a 20-token one); a string
    # replaces it (a short one makes CPU runs ~30% cheaper).
    system: str | None = None

    def messages(self, question: str, history: list[tuple[str, str]] = ()) -> list[dict]:
        msgs = [] if self.system is None else [{"role": "system", "content": self.system}]
        for user, assistant in history:
            msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        msgs.append({"role": "user", "content": self.instruction.format(question=question)})
        return msgs

    def prompt_ids(self, tokenizer, question: str, history=()) -> list[int]:
        text = tokenizer.apply_chat_template(self.messages(question, history), tokenize=False,
                                             add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def answer_ids(self, tokenizer, answer: str) -> list[int]:
        return tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

    def encode(self, tokenizer, question: str, answer: str) -> dict[str, list[int]]:
        prompt = self.prompt_ids(tokenizer, question)
        target = self.answer_ids(tokenizer, answer)
        ids = (prompt + target)[: self.max_length]
        labels = ([-100] * len(prompt) + target)[: self.max_length]
        return {"input_ids": ids, "labels": labels}


def pad_batch(features: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad for training; padded positions get label -100 and attention 0."""
    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), -100, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        ids[row, :n] = torch.tensor(f["input_ids"])
        labels[row, :n] = torch.tensor(f["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def left_pad(prompts: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompts so that batched greedy generation continues every row at the end."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    return {"input_ids": ids, "attention_mask": mask}
