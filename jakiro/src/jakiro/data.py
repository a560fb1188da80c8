"""Training conversations (chat-templated, assistant loss mask) and benchmark question files."""

from __future__ import annotations

import gzip
import json
import random
import zlib
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


class DataError(ValueError):
    """A data file is unreadable, truncated or has the wrong schema (the message names it)."""


def read_text(path: Path, recovery: str) -> str:
    """Text of ``path`` (gunzipped when it ends in .gz); a truncated gzip names the file."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return f.read()
        return path.read_text(encoding="utf-8")
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: truncated or corrupt file ({e}); {recovery}") from e


def read_rows(path: Path, recovery: str) -> list:
    """A JSON array file (``.json``) or JSON lines (``.jsonl``), optionally gzipped."""
    text = read_text(path, recovery)
    if ".jsonl" in path.suffixes:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: not valid JSON ({e.msg}); {recovery}") from e
        return rows
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}; truncated?); "
                        f"{recovery}") from e
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON array of conversations; {recovery}")
    return rows


SHAREGPT = ("a list of objects {'conversations': [{'from': 'human'|'gpt', 'value': str}, ...]} "
            "(ShareGPT format)")


def sharegpt_turns(row: object, where: str) -> list[dict]:
    """One ShareGPT row -> chat turns; any schema problem names ``where`` and the field."""
    role = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant"}
    turns = row.get("conversations") if isinstance(row, dict) else None
    if not isinstance(turns, list):
        raise DataError(f"{where}: missing field 'conversations' (a list); expected {SHAREGPT}")
    out = []
    for j, t in enumerate(turns):
        if not isinstance(t, dict) or not isinstance(t.get("value"), str) \
                or t.get("from") not in role:
            raise DataError(f"{where}: conversations[{j}] must have 'from' (one of "
                            f"{sorted(role)}) and 'value' (a string), got {t!r:.80}")
        out.append({"role": role[t["from"]], "content": t["value"]})
    return out


def load_conversations(spec: str, limit: int, seed: int = 42) -> list[list[dict]]:
    """``chitchat`` (embedded) or a ShareGPT file: ``.json`` array or ``.jsonl`` rows, either
    optionally ``.gz``; shuffled with ``seed``, the first ``limit`` kept."""
    if spec == "chitchat":
        return chitchat_conversations(limit, seed)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"data.conversations: expected 'chitchat' or a ShareGPT JSON file, "
                                f"{spec!r} does not exist")
    recovery = ("regenerate it (python -m jakiro.selfdistill --out ...) or set "
                "data.conversations to another file")
    rows = read_rows(path, recovery)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [sharegpt_turns(rows[i], f"{path}: row {i}") for i in order[:limit]]


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
