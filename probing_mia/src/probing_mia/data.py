"""Benchmark files: ArxivMIA (``text``/``label``/``field``) and WikiMIA (``input``/``label``)
JSON lines, validated before any work, and the overlap check between probe-training texts and
the evaluation splits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from probing_mia.errors import DataError

ARXIVMIA_FILES = {"full": "arxiv_mia.jsonl", "dev": "arxiv_mia_dev.jsonl",
                  "test": "arxiv_mia_test.jsonl", "train_real": "arxiv_mia_train_real.jsonl"}
SCHEMAS = {"arxivmia": ("text", {"text": str, "label": int, "field": str}),
           "wikimia": ("input", {"input": str, "label": int})}


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # 1 = member (seen), 0 = non-member
    group: str = ""  # ArxivMIA field (cs / math); empty elsewhere


def read_jsonl(path: str | Path, schema: str, require_both: bool = True) -> list[Example]:
    """Read and validate one JSONL file; the error names the file, line and field."""
    path = Path(path)
    if schema not in SCHEMAS:
        raise DataError(f"unknown schema {schema!r}; expected one of {sorted(SCHEMAS)}")
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a {schema} JSONL file)")
    text_key, fields = SCHEMAS[schema]
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not valid JSON ({err.msg}); the file may be "
                                "truncated, re-copy it") from None
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
            for key, kind in fields.items():
                if key not in row:
                    raise DataError(f"{where}: missing field {key!r}; {schema} rows need "
                                    f"{sorted(fields)}")
                if not isinstance(row[key], kind) or isinstance(row[key], bool):
                    raise DataError(f"{where}: field {key!r} must be {kind.__name__}, got "
                                    f"{row[key]!r}")
            if row["label"] not in (0, 1):
                raise DataError(f"{where}: field 'label' must be 0 or 1, got {row['label']!r}")
            rows.append(Example(row[text_key], row["label"], row.get("field", "")))
    if not rows:
        raise DataError(f"{path}: no rows")
    if require_both:
        check_two_classes(rows, str(path))
    return rows


def check_two_classes(rows: list[Example], name: str) -> None:
    labels = sorted({r.label for r in rows})
    if labels != [0, 1]:
        raise DataError(f"{name}: single-class split (labels present: {labels}); membership "
                        "metrics need both members and non-members")


def load_arxivmia(directory: str | Path, split: str) -> list[Example]:
    if split not in ARXIVMIA_FILES:
        raise DataError(f"ArxivMIA split {split!r} unknown; expected {sorted(ARXIVMIA_FILES)}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: ArxivMIA folder not found (set corpus.source_dir)")
    return read_jsonl(directory / ARXIVMIA_FILES[split], "arxivmia")


def normalise(text: str) -> str:
    """Whitespace- and case-insensitive key for overlap detection."""
    return " ".join(text.lower().split())


def find_overlap(probe_texts: list[str], **eval_splits: list[str]) -> list[dict]:
    """Every probe-training text that also occurs (normalised) in an evaluation split."""
    probe = {normalise(t): t for t in probe_texts}
    hits = []
    for split, texts in eval_splits.items():
        for index, text in enumerate(texts):
            if normalise(text) in probe:
                hits.append({"split": split, "index": index, "text": text[:120],
                             "full_text": text})
    return hits


def sniff_schema(path: str | Path) -> str:
    """'arxivmia' when the first row has ``text``, 'wikimia' when it has ``input``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected ArxivMIA or WikiMIA JSONL)")
    with path.open(encoding="utf-8") as handle:
        first = next((line for line in handle if line.strip()), "")
    try:
        row = json.loads(first)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:1: not valid JSON ({err.msg})") from None
    if isinstance(row, dict) and "text" in row:
        return "arxivmia"
    if isinstance(row, dict) and "input" in row:
        return "wikimia"
    raise DataError(f"{path}:1: neither ArxivMIA ('text', 'label', 'field') nor WikiMIA "
                    "('input', 'label') fields")
