"""Training conversations (chat-templated, assistant loss mask) and benchmark question files."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Sample:
    input_ids: torch.Tensor  # [T]
    loss_mask: torch.Tensor  # [T], 1 on assistant tokens


def chitchat_conversations(limit: int, seed: int = 42) -> list[list[dict]]:
    """Chit-chat dialogues as alternating user/assistant turns (embedded PyPI dataset)."""
    import chitchat_dataset

    data = chitchat_dataset.Dataset()
    keys = sorted(data)
    random.Random(seed).shuffle(keys)
    convs = []
    for key in keys:
        if len(convs) >= limit:
            break
        turns = [" ".join(u["text"] for u in msg).strip() for msg in data[key]["messages"]]
        turns = [t for t in turns if t]
        if len(turns) < 2:
            continue
        convs.append(
            [{"role": "user" if i % 2 == 0 else "assistant", "content": t}
             for i, t in enumerate(turns)]
        )
    return convs


def load_conversations(spec: str, limit: int, seed: int = 42) -> list[list[dict]]:
    """``chitchat`` (embedded) or a ShareGPT-style JSON file with ``conversations`` lists."""
    if spec == "chitchat":
        return chitchat_conversations(limit, seed)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"data.conversations: expected 'chitchat' or a ShareGPT JSON file, "
                                f"{spec!r} does not exist")
    rows = json.loads(path.read_text())
    random.Random(seed).shuffle(rows)
    role = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant"}
    convs = []
    for row in rows[:limit]:
        if "conversations" not in row:
            raise ValueError(f"{path}: each row needs a 'conversations' list (ShareGPT format)")
        convs.append([{"role": role.get(t["from"], "user"), "content": t["value"]}
                      for t in row["conversations"]])
    return convs


def encode_conversation(tokenizer, conv: list[dict], max_len: int) -> Sample:  # noqa: ANN001
    """Chat-template a conversation; mark the tokens of assistant contents (+ end marker)."""
    text = tokenizer.apply_chat_template(conv, tokenize=False)
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    spans, cursor = [], 0
    for turn in conv:
        at = text.find(turn["content"], cursor)
        if at < 0:
            continue
        cursor = at + len(turn["content"])
        if turn["role"] == "assistant":
            spans.append((at, cursor))
    offsets = enc["offset_mapping"][:max_len]
    ids = torch.tensor(enc["input_ids"][:max_len])
    mask = torch.zeros_like(ids)
    for a, b in spans:
        inside = [i for i, (s, e) in enumerate(offsets) if e > s and s >= a and e <= b]
        if inside:
            # The template's end-of-turn token right after the content is predicted too.
            last = min(inside[-1] + 1, len(offsets) - 1)
            mask[inside[0] : last + 1] = 1
    return Sample(ids, mask)


# -- benchmark questions -------------------------------------------------------------------------
@dataclass
class Question:
    question_id: object
    category: str
    turns: list[str]


def load_questions(path: str | Path, limit: int | None = None) -> list[Question]:
    """Read a ``question.jsonl`` (fields question_id, turns: list[str]); validates every row."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"eval.questions: {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e})") from None
        turns = row.get("turns") if isinstance(row, dict) else None
        if (not isinstance(turns, list) or not turns
                or not all(isinstance(t, str) for t in turns) or "question_id" not in row):
            raise ValueError(
                f"{path}:{n}: expected an object with 'question_id' and 'turns' (a non-empty "
                "list of strings), as in question.jsonl"
            )
        out.append(Question(row["question_id"], str(row.get("category", "")), turns))
        if limit and len(out) >= limit:
            break
    return out
