"""Self-distilled data: answers are the target's greedy decode, the file resumes and is atomic."""

from __future__ import annotations

import json

import pytest
import torch
from jakiro.assets import Target
from jakiro.data import load_conversations, load_questions
from jakiro.decode import DecodeConfig, generate
from jakiro.drafters import Drafter
from jakiro.selfdistill import answer_user_turns, regenerate, write_questions

CONVS = [
    [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"},
     {"role": "user", "content": "how are you"}, {"role": "assistant", "content": "fine"}],
    [{"role": "user", "content": "what is up"}, {"role": "assistant", "content": "nothing"}],
    [{"role": "assistant", "content": "no user turn here"}],
    [{"role": "user", "content": "bye"}],
]


class CharTokenizer:
    """Test double for a HF tokenizer: a character-level chat template over a 96-token vocab."""

    def apply_chat_template(self, history, add_generation_prompt=True,  # noqa: ANN001, ARG002
                            return_tensors="pt"):  # noqa: ANN001, ARG002
        text = "".join(f"<{t['role']}>{t['content']}" for t in history) + "<assistant>"
        return torch.tensor([[ord(c) % 96 for c in text]])

    def decode(self, ids, skip_special_tokens=True) -> str:  # noqa: ANN001, ARG002
        return "".join(chr(97 + i % 26) for i in ids)


@pytest.fixture
def target(tiny_target):
    return Target("tiny", tiny_target, CharTokenizer())


DCFG = DecodeConfig(12, 512)


def test_answers_are_the_targets_greedy_decode(target):
    hist = answer_user_turns(target, CONVS[0], DCFG, max_user_turns=2)
    assert [t["role"] for t in hist] == ["user", "assistant", "user", "assistant"]
    assert hist[2]["content"] == "how are you"
    # turn 2 is answered with the target's own turn-1 answer in the history
    prompt = target.tokenizer.apply_chat_template(hist[:3])[0]
    expect = generate(target.model, Drafter(), prompt, DCFG).tokens
    assert hist[3]["content"] == target.tokenizer.decode(expect)
    assert hist[1]["content"] != "hello"


def test_regenerate_writes_sharegpt_atomically_and_resumes(target, tmp_path):
    out = tmp_path / "sd.json"
    full = regenerate(target, CONVS, out, DCFG)
    assert [r["id"] for r in full] == [0, 1, 3]  # conversation 2 has no user turn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sd.json"]
    convs = load_conversations(str(out), limit=10)
    assert all([t["role"] for t in c] == ["user", "assistant"] for c in convs)

    # An interrupted run left the first row: the rerun only answers the rest, same file.
    out2 = tmp_path / "again.json"
    partial = tmp_path / "again.json.partial.jsonl"
    partial.write_text(json.dumps(full[0]) + "\n")
    assert regenerate(target, CONVS, out2, DCFG) == full
    assert out2.read_text() == out.read_text() and not partial.exists()


def test_resume_rejects_rows_of_other_data(target, tmp_path):
    partial = tmp_path / "x.json.partial.jsonl"
    partial.write_text(json.dumps({"id": 0, "conversations": [
        {"from": "human", "value": "something else"}, {"from": "gpt", "value": "?"}]}) + "\n")
    with pytest.raises(ValueError, match="x.json.partial.jsonl: row 0 does not match"):
        regenerate(target, CONVS, tmp_path / "x.json", DCFG)
    assert not (tmp_path / "x.json").exists()


def test_needs_a_tokenizer(tiny_target):
    with pytest.raises(ValueError, match="no tokenizer"):
        answer_user_turns(Target("tiny", tiny_target, None), CONVS[0], DCFG, 1)


def test_questions_from_a_selfdistilled_file(target, tmp_path):
    rows = regenerate(target, CONVS, tmp_path / "sd.json", DCFG)
    assert write_questions(tmp_path / "sd.json", 2, tmp_path / "q" / "question.jsonl") == 2
    qs = load_questions(tmp_path / "q" / "question.jsonl")
    assert [q.turns for q in qs] == [[r["conversations"][0]["value"]] for r in rows[:2]]
