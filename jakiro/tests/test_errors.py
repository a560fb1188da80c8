"""Bad input fails early with one clear message naming the field or file."""

from __future__ import annotations

import json

import pytest
import torch
from jakiro.assets import load_target
from jakiro.checkpoint import load_head, save_head
from jakiro.data import load_questions
from jakiro.draft_head import DraftHead, HeadConfig
from jakiro.drafters import TreeConfig
from jakiro.sampling import SamplingConfig

from tests.conftest import tiny_config


def test_unknown_model_spec(tmp_path):
    with pytest.raises(ValueError, match="model spec 'no-such-model'"):
        load_target("no-such-model")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_target(str(tmp_path))


def test_question_file_with_wrong_schema(tmp_path):
    bad = tmp_path / "question.jsonl"
    bad.write_text(json.dumps({"question_id": 1, "turns": "not a list"}) + "\n")
    with pytest.raises(ValueError, match=r"question.jsonl:1: expected .*'turns'"):
        load_questions(bad)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="not JSON"):
        load_questions(bad)
    with pytest.raises(FileNotFoundError, match="eval.questions"):
        load_questions(tmp_path / "missing.jsonl")


def test_real_question_files_parse():
    from pathlib import Path

    here = Path(__file__).resolve()
    root = next((p / "shared" / "data" / "specdec" for p in here.parents
                 if (p / "shared" / "data" / "specdec").exists()), None)
    if root is None:
        pytest.skip("shared specdec question files not present")
    qs = load_questions(root / "mt_bench" / "question.jsonl")
    assert len(qs) == 80 and all(len(q.turns) == 2 for q in qs)


def test_head_for_another_target_is_refused(tmp_path):
    head = DraftHead(tiny_config(), HeadConfig(kind="eagle"))
    save_head(tmp_path, head, torch.arange(96), {})
    other = tiny_config(hidden_size=64)
    with pytest.raises(ValueError, match="hidden_size=48"):
        load_head(tmp_path, other)
    with pytest.raises(ValueError, match="vocab_size"):
        load_head(tmp_path, tiny_config(vocab_size=100))


def test_bad_options():
    with pytest.raises(ValueError, match="head.kind"):
        HeadConfig(kind="medusa")
    with pytest.raises(ValueError, match="parent_rule"):
        TreeConfig(parent_rule="nearest")
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(1.0, top_p=0.0)


def test_full_vocab_method_names():
    from jakiro.eval import split_method

    assert split_method("jakiro_full_vocab") == ("jakiro", True)
    assert split_method("eagle2") == ("eagle2", False)
    # An unknown base stays unknown, so build_methods rejects it with the usual error.
    assert split_method("medusa_full_vocab") == ("medusa_full_vocab", False)
