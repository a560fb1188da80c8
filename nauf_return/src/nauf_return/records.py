"""Persons and their QA pairs; reading and writing the official RETURN jsonl format.

Two official layouts exist (privacy.md A.2):
* ``RETURN.jsonl``: ``{"name", "qa_list": [{"question", "answer"}]}``;
* the per-model subset and its splits: ``{"name", "data": [{"question", "gold_answer",
  "pred_answer"?, "nli_result"?: {"label", "score"}}]}``.
Both load into :class:`Person`. Writing always uses the second layout.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from nauf_return.errors import ConfigError


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    # The original model's own answer and the judge's verdict on it, when the file has them.
    pred_answer: str | None = None
    pred_correct: bool | None = None
    # Synthetic data only: which attribute and which template produced the pair.
    attribute: str | None = None
    template: str | None = None


@dataclass
class Person:
    name: str
    qas: list[QA]
    attributes: dict[str, str] = field(default_factory=dict)
    gender: str | None = None
    biographies: list[str] = field(default_factory=list)


def _require(obj: dict, key: str, kind: type, where: str) -> object:
    if key not in obj:
        raise ConfigError(f"{where}: missing field '{key}' (expected {kind.__name__})")
    value = obj[key]
    if not isinstance(value, kind):
        raise ConfigError(
            f"{where}: field '{key}' must be {kind.__name__}, got {type(value).__name__}"
        )
    return value


def _parse_qa(item: object, where: str) -> QA:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: each QA must be an object with 'question' and an answer")
    question = _require(item, "question", str, where)
    answer_key = "gold_answer" if "gold_answer" in item else "answer"
    answer = _require(item, answer_key, str, where)
    pred = item.get("pred_answer")
    nli = item.get("nli_result")
    correct = None
    if isinstance(nli, dict) and "label" in nli:
        # Official rule (privacy.md A.1.2): correct unless the NLI label is contradiction.
        correct = nli["label"] != "contradiction"
    return QA(question=question, answer=answer, pred_answer=pred, pred_correct=correct,
              attribute=item.get("attribute"), template=item.get("template"))


def parse_person(obj: object, where: str) -> Person:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
    name = _require(obj, "name", str, where)
    if not name.strip():
        raise ConfigError(f"{where}: field 'name' is empty")
    if "data" in obj:
        items = _require(obj, "data", list, where)
    elif "qa_list" in obj:
        items = _require(obj, "qa_list", list, where)
    else:
        raise ConfigError(f"{where}: expected a 'data' or 'qa_list' list of QA objects")
    qas = [_parse_qa(item, f"{where} QA {k}") for k, item in enumerate(items)]
    return Person(name=name, qas=qas, attributes=dict(obj.get("attributes", {})),
                  gender=obj.get("gender"), biographies=list(obj.get("biographies", [])))


def read_jsonl(path: Path, recovery: str = "") -> list[tuple[str, object]]:
    """(``file:line``, parsed object) per non-empty line; bad JSON names the file and line."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                rows.append((where, json.loads(line)))
            except json.JSONDecodeError as err:
                raise ConfigError(f"{where}: not valid JSON ({err.msg}){recovery}") from None
    return rows


def read_persons(path: str | Path) -> list[Person]:
    """Read one official-format jsonl file; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file not found: {path}")
    persons = [parse_person(obj, where) for where, obj in read_jsonl(path)]
    if not persons:
        raise ConfigError(f"{path}: no persons found")
    return persons


def person_to_json(person: Person) -> dict:
    data = []
    for qa in person.qas:
        item: dict = {"question": qa.question, "gold_answer": qa.answer}
        if qa.pred_answer is not None:
            item["pred_answer"] = qa.pred_answer
        if qa.pred_correct is not None:
            item["nli_result"] = {"label": "entailment" if qa.pred_correct else "contradiction"}
        if qa.attribute is not None:
            item["attribute"] = qa.attribute
            item["template"] = qa.template
        data.append(item)
    obj: dict = {"name": person.name, "data": data}
    if person.attributes:
        obj["attributes"] = person.attributes
    if person.gender:
        obj["gender"] = person.gender
    if person.biographies:
        obj["biographies"] = person.biographies
    return obj


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temporary sibling and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_persons(path: str | Path, persons: list[Person]) -> str:
    """Write persons as jsonl (atomically) and return the sha256 of the bytes written."""
    text = "".join(json.dumps(person_to_json(p), ensure_ascii=False) + "\n" for p in persons)
    atomic_write_text(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
