"""Self-distilled training data: the target writes the assistant turns of the conversations.

A draft head learns to predict the target's own continuation. Human replies (chit-chat) are far
from what the target writes at decode time, which keeps acceptance low; EAGLE's authors
regenerate ShareGPT with the target for the same reason. This keeps the user turns of each
conversation, answers them greedily with the target (the evaluation's vanilla turn loop and chat
template) and writes a ShareGPT JSON file for ``data.conversations=<file>``.

    python -m jakiro.selfdistill --out runs/selfdistill/chitchat.json --conversations 64
    python -m jakiro.selfdistill --out artifacts/sd.jsonl.gz --conversations 2048 \
        --batch-size 16 --precision bf16
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from jakiro.atomic import write_text_atomic
from jakiro.batch_decode import generate_batch
from jakiro.data import load_conversations, read_rows
from jakiro.decode import DecodeConfig, generate
from jakiro.drafters import Drafter
from jakiro.evaluation import answer_turns, chat_prompt
from jakiro.pipeline import DTYPES, load_target, set_threads


def answer_user_turns(target, conv: list[dict], dcfg: DecodeConfig,  # noqa: ANN001
                      max_user_turns: int) -> list[dict]:
    """The conversation's first ``max_user_turns`` user turns, each answered by the target."""
    if target.tokenizer is None:
        raise ValueError(f"model {target.name!r} has no tokenizer; cannot apply a chat template")
    turns = [t["content"] for t in conv if t["role"] == "user"][:max_user_turns]

    def respond(_turn: int, prompt: torch.Tensor) -> list[int]:
        return generate(target.model, Drafter(), prompt, dcfg).tokens

    return answer_turns(target.tokenizer, turns, respond, dcfg.eos_ids, strip=True)


def to_sharegpt(index: int, history: list[dict]) -> dict:
    role = {"user": "human", "assistant": "gpt"}
    return {"id": index, "conversations": [{"from": role[t["role"]], "value": t["content"]}
                                           for t in history]}


def _read_partial(partial: Path) -> list[dict]:
    """The rows of ``partial``. An unparsable last line is dropped from the file: a kill while
    appending tears only the row being written, which the rerun answers again."""
    lines = partial.read_text().splitlines(keepends=True)
    last = max((n for n, line in enumerate(lines) if line.strip()), default=-1)
    rows: list[dict] = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if n != last:
                raise ValueError(f"{partial}: line {n + 1} is not valid JSON ({e.msg}); "
                                 "delete the file to start over") from e
            write_text_atomic(partial, "".join(lines[:n]))
            print(f"{partial}: dropped a torn last line ({n + 1})", file=sys.stderr)
    return rows


def _resume(partial: Path, convs: list[list[dict]]) -> list[dict]:
    """Rows already written by an interrupted run; each must start with its conversation's turn."""
    if not partial.exists():
        return []
    rows = _read_partial(partial)
    for row in rows:
        i = row["id"]
        first_user = next((t["content"] for t in convs[i] if t["role"] == "user"), None) \
            if i < len(convs) else None
        if first_user is None or row["conversations"][0]["value"] != first_user:
            raise ValueError(f"{partial}: row {i} does not match the requested conversations "
                             "(other data or seed); delete the file to start over")
    return rows


def answer_batch(target, convs: list[list[dict]], dcfg: DecodeConfig,  # noqa: ANN001
                 max_user_turns: int, seed: int = 0) -> list[list[dict]]:
    """``answer_user_turns`` for many conversations at once: turn k of every conversation that
    has one is decoded in one padded batch (``generate_batch``)."""
    tok = target.tokenizer
    if tok is None:
        raise ValueError(f"model {target.name!r} has no tokenizer; cannot apply a chat template")
    users = [[t["content"] for t in c if t["role"] == "user"][:max_user_turns] for c in convs]
    hist: list[list[dict]] = [[] for _ in convs]
    eos = set(dcfg.eos_ids)
    for ti in range(max(len(u) for u in users)):
        rows = [i for i, u in enumerate(users) if ti < len(u)]
        for i in rows:
            hist[i].append({"role": "user", "content": users[i][ti]})
        outs = generate_batch(target.model, [chat_prompt(tok, hist[i]) for i in rows], dcfg,
                              seed)
        for i, ids in zip(rows, outs, strict=True):
            text = tok.decode([t for t in ids if t not in eos], skip_special_tokens=True)
            hist[i].append({"role": "assistant", "content": text.strip()})
    return hist


def write_rows(out: Path, rows: list[dict]) -> None:
    """``.json``: a JSON array; ``.jsonl``: one row per line; ``.gz`` on either: gzip (mtime 0,
    so equal rows give equal bytes and hashes). Written to a temp file, then renamed."""
    lines = ".jsonl" in out.suffixes
    text = "".join(json.dumps(r) + "\n" for r in rows) if lines else json.dumps(rows, indent=1)
    if out.suffix != ".gz":
        write_text_atomic(out, text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                               filename="") as gz:
        gz.write(text.encode())
    os.replace(tmp, out)


def regenerate(target, convs: list[list[dict]], out: Path, dcfg: DecodeConfig,  # noqa: ANN001
               max_user_turns: int = 1, batch_size: int = 1) -> list[dict]:
    """Answer every conversation, appending rows to ``<out>.partial.jsonl`` after each batch
    (resumable), then write ``out`` atomically. Conversations without a user turn are skipped.
    ``batch_size`` > 1 decodes that many conversations per forward (``answer_batch``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial.jsonl")
    rows = _resume(partial, convs)
    done = {r["id"] for r in rows}
    todo = [i for i, c in enumerate(convs)
            if i not in done and any(t["role"] == "user" for t in c)]
    with partial.open("a") as fh, tqdm(total=len(todo), desc="self-distill", unit="conv") as bar:
        for at in range(0, len(todo), batch_size):
            chunk = todo[at : at + batch_size]
            if batch_size == 1:
                hists = [answer_user_turns(target, convs[chunk[0]], dcfg, max_user_turns)]
            else:
                hists = answer_batch(target, [convs[i] for i in chunk], dcfg, max_user_turns)
            for i, hist in zip(chunk, hists, strict=True):
                row = to_sharegpt(i, hist)
                fh.write(json.dumps(row) + "\n")
                rows.append(row)
            fh.flush()
            bar.update(len(chunk))
    rows.sort(key=lambda r: r["id"])
    write_rows(out, rows)
    partial.unlink()
    return rows


def write_questions(sharegpt: Path, n: int, out: Path) -> int:
    """The first user turns of a ShareGPT file as a ``question.jsonl`` benchmark: evaluating on
    prompts whose answers the heads were trained on separates memorisation from a
    train/inference mismatch."""
    rows = read_rows(sharegpt, "regenerate it with python -m jakiro.selfdistill")[:n]
    lines = [json.dumps({"question_id": r["id"], "category": "seen_in_training",
                         "turns": [r["conversations"][0]["value"]]}) for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, "\n".join(lines) + "\n")
    return len(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="ShareGPT JSON file to write")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="target: alias, local dir or cached hub id")
    ap.add_argument("--source", default="chitchat", help="'chitchat' or a ShareGPT JSON file")
    ap.add_argument("--conversations", type=int, default=64)
    ap.add_argument("--user-turns", type=int, default=1)
    ap.add_argument("--max-new", type=int, default=96)
    ap.add_argument("--seed", type=int, default=42, help="conversation shuffle seed (as data.seed)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=1,
                    help="conversations decoded per forward (left-padded batch)")
    ap.add_argument("--precision", choices=sorted(DTYPES), default="fp32",
                    help="target precision (bf16: ~3x faster matmuls on AVX512-BF16 CPUs)")
    ap.add_argument("--questions-from", type=Path, default=None,
                    help="instead: write the first --conversations user turns of this ShareGPT "
                         "file to --out as question.jsonl and exit")
    a = ap.parse_args(argv)
    if a.questions_from is not None:
        print(f"wrote {write_questions(a.questions_from, a.conversations, a.out)} questions")
        return
    if min(a.conversations, a.user_turns, a.max_new, a.batch_size) < 1:
        ap.error("--conversations, --user-turns, --max-new and --batch-size must be positive")
    set_threads(a.threads)
    target = load_target(a.model, DTYPES[a.precision])
    convs = load_conversations(a.source, a.conversations, a.seed)
    dcfg = DecodeConfig(a.max_new, 2048, eos_ids=tuple(target.eos_ids))
    rows = regenerate(target, convs, a.out, dcfg, a.user_turns, a.batch_size)
    print(f"wrote {len(rows)} conversations to {a.out}")


if __name__ == "__main__":
    main()
