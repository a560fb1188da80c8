"""Self-distilled training data: the target answers the user turns of chit-chat conversations.

The adapter must draft what the *target* writes; human replies are far from that (EAGLE's and
Medusa's authors regenerate ShareGPT with the target for the same reason). Answers are appended
one per line to a partial file, so an interrupted run resumes where it stopped (a torn last line
is dropped and answered again); the finished list is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tqdm import tqdm

from kangaroo.assets import Target, cache_dir, fingerprint
from kangaroo.chat import answer_turns
from kangaroo.decode import generate
from kangaroo.run_folder import write_text_atomic
from kangaroo.schema import DecodeConfig


def cache_file(target: Target, convs_key: dict) -> Path:
    key = hashlib.sha256(json.dumps({"target": fingerprint(target.model), **convs_key},
                                    sort_keys=True).encode()).hexdigest()[:16]
    root = Path(convs_key.get("cache_dir") or cache_dir() / "selfdistill")
    return root / f"{key}.json"


def _read_partial(partial: Path) -> dict[int, list[dict]]:
    rows: dict[int, list[dict]] = {}
    if not partial.exists():
        return rows
    lines = partial.read_text().splitlines(keepends=True)
    good = []
    for n, line in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) - 1:  # torn by a kill mid-append: answer it again
                break
            raise ValueError(f"{partial}:{n + 1}: not valid JSON; delete the file to start "
                             "the self-distillation over") from None
        rows[int(row["id"])] = row["conversation"]
        good.append(line)
    if len(good) != len(lines):
        write_text_atomic(partial, "".join(good))
    return rows


def self_distill(target: Target, convs: list[list[dict]], answer_tokens: int, out: Path,
                 max_user_turns: int = 1) -> list[list[dict]]:
    """The conversations' first user turns, each answered greedily by the target."""
    if out.exists():
        return json.loads(out.read_text())
    if target.tokenizer is None:
        raise ValueError(f"model.spec {target.name!r} has no tokenizer; self-distillation needs "
                         "a chat template (use data.conversations=synthetic)")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.jsonl")
    done = _read_partial(partial)
    dc = DecodeConfig(max_new_tokens=answer_tokens)

    def respond(_turn: int, ids: list[int]) -> list[int]:
        return generate(target.model, 1, None, ids, dc, eos_ids=target.eos_ids).tokens

    with partial.open("a") as fh:
        for i, conv in enumerate(tqdm(convs, desc="self-distill", unit="conv")):
            if i in done:
                continue
            users = [t["content"] for t in conv if t["role"] == "user"][:max_user_turns]
            history, _ = answer_turns(target.tokenizer, users, respond, target.eos_ids)
            done[i] = history
            fh.write(json.dumps({"id": i, "conversation": history}) + "\n")
            fh.flush()
    result = [done[i] for i in range(len(convs))]
    write_text_atomic(out, json.dumps(result))
    os.remove(partial)
    return result
