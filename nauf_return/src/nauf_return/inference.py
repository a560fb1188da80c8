"""Batched greedy answers and teacher-forced answer likelihoods."""

from __future__ import annotations

import torch

from nauf_return.prompting import PromptFormat, left_pad, pad_batch


@torch.no_grad()
def generate_answers(
    model, tokenizer, fmt: PromptFormat, questions: list[str], batch_size: int = 32,
    max_new_tokens: int = 32, histories: list | None = None,
) -> list[str]:
    """Greedy answers, batched with left padding; sorted by length to waste less padding."""
    model.eval()
    histories = histories or [()] * len(questions)
    prompts = [fmt.prompt_ids(tokenizer, q, h) for q, h in zip(questions, histories, strict=True)]
    order = sorted(range(len(prompts)), key=lambda k: len(prompts[k]))
    answers: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = left_pad([prompts[k] for k in idx], tokenizer.pad_token_id)
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
        new = out[:, batch["input_ids"].shape[1]:]
        for k, row in zip(idx, new, strict=True):
            answers[k] = tokenizer.decode(row, skip_special_tokens=True).strip()
    return answers


@torch.no_grad()
def answer_logprob(
    model, tokenizer, fmt: PromptFormat, questions: list[str], answers: list[str],
    batch_size: int = 32,
) -> list[float]:
    """Mean per-token log-probability of each gold answer under teacher forcing."""
    model.eval()
    feats = [fmt.encode(tokenizer, q, a) for q, a in zip(questions, answers, strict=True)]
    out: list[float] = []
    for start in range(0, len(feats), batch_size):
        batch = pad_batch(feats[start : start + batch_size], tokenizer.pad_token_id)
        logits = model(input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"]).logits[:, :-1].float()
        labels = batch["labels"][:, 1:]
        mask = labels != -100
        logp = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0).unsqueeze(-1))
        logp = logp.squeeze(-1) * mask
        out += (logp.sum(-1) / mask.sum(-1).clamp(min=1)).tolist()
    return out
