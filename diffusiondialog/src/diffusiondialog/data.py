"""Dialogue corpora -> (context turns, response) pairs, split by conversation.

`load_dataset(spec)` is the one entry point: spec is `chitchat` (the embedded default shipped
in the `chitchat-dataset` wheel), or a local folder/file in the PLATO TSV or HF-style JSONL
format for DailyDialog and PersonaChat.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

PLATO_EOU = "__eou__"
REGENERATE = "re-create or re-download the file (data.path names it)"


class DataError(ValueError):
    """A data file that cannot be read as expected; names the file, line or field."""
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Pair:
    conversation: str
    context: tuple[str, ...]  # oldest first; the last item is the turn being answered
    response: str


def merge_turns(messages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Join consecutive messages of one sender into a single turn (sender, text)."""
    turns: list[tuple[str, str]] = []
    for sender, text in messages:
        text = " ".join(text.split())
        if not text:
            continue
        if turns and turns[-1][0] == sender:
            turns[-1] = (sender, turns[-1][1] + " " + text)
        else:
            turns.append((sender, text))
    return turns


def conversation_pairs(cid: str, turns: list[str], max_context: int) -> list[Pair]:
    """Every turn after the first is a response to up to `max_context` preceding turns."""
    if max_context < 1:
        raise ValueError(f"data.max_context_turns must be >= 1, got {max_context}")
    return [Pair(cid, tuple(turns[max(0, i - max_context):i]), turns[i])
            for i in range(1, len(turns))]


def split_conversations(ids: list[str], seed: int,
                        fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)):
    """Seeded shuffle of conversation ids into train/dev/test; no conversation spans two splits."""
    if abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"data.split must be three non-negative fractions summing to 1, "
                         f"got {fractions}")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    n_train = int(round(fractions[0] * len(order)))
    n_dev = int(round(fractions[1] * len(order)))
    return {"train": order[:n_train], "dev": order[n_train:n_train + n_dev],
            "test": order[n_train + n_dev:]}


def chitchat_conversations(path: Path | None = None) -> dict[str, list[str]]:
    """Conversation id -> merged turns of the embedded chitchat-dataset corpus."""
    if path is None:
        try:
            import chitchat_dataset
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise FileNotFoundError("data.name=chitchat needs the `chitchat-dataset` package "
                                    "(pip install chitchat-dataset==0.9.0)") from err
        path = Path(chitchat_dataset.__file__).parent / "dataset.json"
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err}); the file is truncated or corrupt, "
                        f"{REGENERATE}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object of conversations, got "
                        f"{type(raw).__name__}")
    convs = {}
    for cid, conv in raw.items():
        try:
            msgs = [(m["sender"], m["text"]) for group in conv["messages"] for m in group]
        except (KeyError, TypeError) as err:
            raise DataError(f"{path}: conversation {cid!r}: expected "
                            f"{{'messages': [[{{'sender', 'text'}}, ...], ...]}}, missing or "
                            f"wrong field {err}") from None
        turns = [text for _, text in merge_turns(msgs)]
        if len(turns) >= 2:
            convs[cid] = turns
    return convs


def read_plato_tsv(path: Path) -> list[tuple[list[str], str]]:
    """PLATO lines: `u1 __eou__ u2 ...<TAB>response` or `persona<TAB>context<TAB>response`.

    The persona field (PersonaChat) is read and dropped, as in the official code.
    """
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) not in (2, 3):
            raise DataError(f"{path}:{n}: expected 2 (context, response) or 3 (persona, "
                             f"context, response) tab-separated fields, got {len(fields)}")
        context = [u.strip() for u in fields[-2].split(PLATO_EOU) if u.strip()]
        if not context:
            raise DataError(f"{path}:{n}: empty context")
        rows.append((context, fields[-1].strip()))
    return rows


def read_hf_jsonl(path: Path) -> list[tuple[list[str], str]]:
    """HF-style rows: {"dialog": [...]} (DailyDialog) or {"history": [...], "response": str}
    / {"context": [...], "response": str} (PersonaChat-style)."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{n}: not valid JSON ({err}); the file is truncated or "
                            f"corrupt, {REGENERATE}") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{n}: expected a JSON object per line")
        if "dialog" in rec:
            turns = [" ".join(u.split()) for u in rec["dialog"] if u.strip()]
            rows.extend((turns[:i], turns[i]) for i in range(1, len(turns)))
            continue
        ctx = rec.get("history", rec.get("context"))
        if ctx is None or "response" not in rec:
            raise DataError(f"{path}:{n}: expected keys 'dialog', or 'history'/'context' with "
                             f"'response'; got {sorted(rec)}")
        ctx = [ctx] if isinstance(ctx, str) else list(ctx)
        if not any(u.strip() for u in ctx):
            raise DataError(f"{path}:{n}: empty context")
        rows.append(([u.strip() for u in ctx if u.strip()], rec["response"].strip()))
    return rows


FORMATS = {"plato": ("dial.{split}", read_plato_tsv), "hf": ("{split}.jsonl", read_hf_jsonl)}


def _file_splits(root: Path, fmt: str, max_context: int) -> dict[str, list[Pair]]:
    if fmt not in FORMATS:
        raise ValueError(f"data.format must be one of {sorted(FORMATS)}, got {fmt!r}")
    pattern, reader = FORMATS[fmt]
    out = {}
    for split in SPLITS:
        f = root / pattern.format(split=split)
        if not f.is_file():
            raise FileNotFoundError(f"data.path: expected {f} ({fmt} format)")
        out[split] = [Pair(f"{split}-{i}", tuple(c[-max_context:]), r)
                      for i, (c, r) in enumerate(reader(f))]
    return out


def load_dataset(spec: str, fmt: str = "chitchat", max_context: int = 5, seed: int = 0,
                 max_conversations: int | None = None) -> dict[str, list[Pair]]:
    """Pairs for train/dev/test. `spec`: 'chitchat' or a folder with PLATO/HF split files."""
    if spec == "chitchat" or fmt == "chitchat":
        path = None if spec == "chitchat" else Path(spec)
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"data.path: expected a chitchat dataset.json, got {path}")
        convs = chitchat_conversations(path)
        ids = sorted(convs)
        if max_conversations:
            ids = random.Random(seed).sample(ids, min(max_conversations, len(ids)))
        split = split_conversations(ids, seed)
        return {s: [p for cid in split[s] for p in conversation_pairs(cid, convs[cid],
                                                                      max_context)]
                for s in SPLITS}
    root = Path(spec)
    if not root.is_dir():
        raise FileNotFoundError(f"data.path: expected a folder with {fmt} split files, "
                                f"got {root}")
    return _file_splits(root, fmt, max_context)
