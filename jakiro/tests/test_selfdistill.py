"""Self-distilled data: answers are the target's greedy decode, the file resumes and is atomic."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jakiro.assets import Target
from jakiro.batch_decode import generate_batch
from jakiro.data import load_conversations, load_questions
from jakiro.decode import DecodeConfig, generate
from jakiro.drafters import Drafter
from jakiro.selfdistill import _resume, answer_user_turns, regenerate, write_questions

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


def test_resume_drops_a_torn_last_line(target, tmp_path):
    full = regenerate(target, CONVS, tmp_path / "sd.json", DCFG)
    # Killed while appending the second row: only part of it reached the file.
    partial = tmp_path / "again.json.partial.jsonl"
    first = json.dumps(full[0]) + "\n"
    partial.write_text(first + json.dumps(full[1])[:30])
    assert _resume(partial, CONVS) == full[:1]
    assert partial.read_text() == first
    assert regenerate(target, CONVS, tmp_path / "again.json", DCFG) == full
    assert (tmp_path / "again.json").read_text() == (tmp_path / "sd.json").read_text()
    assert not partial.exists()


def test_resume_rejects_a_bad_line_before_the_last(tmp_path):
    rows = [{"id": i, "conversations": [{"from": "human", "value": CONVS[i][0]["content"]},
                                        {"from": "gpt", "value": "x"}]} for i in (0, 1)]
    partial = tmp_path / "x.json.partial.jsonl"
    text = json.dumps(rows[0]) + "\n" + json.dumps(rows[1])[:30] + "\n" + json.dumps(rows[1]) + "\n"
    partial.write_text(text)
    with pytest.raises(ValueError, match=r"x\.json\.partial\.jsonl: line 2 is not valid JSON"):
        _resume(partial, CONVS)
    assert partial.read_text() == text  # nothing dropped: only a torn last line is repaired


def test_needs_a_tokenizer(tiny_target):
    with pytest.raises(ValueError, match="no tokenizer"):
        answer_user_turns(Target("tiny", tiny_target, None), CONVS[0], DCFG, 1)


def test_questions_from_a_selfdistilled_file(target, tmp_path):
    rows = regenerate(target, CONVS, tmp_path / "sd.json", DCFG)
    assert write_questions(tmp_path / "sd.json", 2, tmp_path / "q" / "question.jsonl") == 2
    qs = load_questions(tmp_path / "q" / "question.jsonl")
    assert [q.turns for q in qs] == [[r["conversations"][0]["value"]] for r in rows[:2]]


@settings(max_examples=5, deadline=None)
@given(lens=st.lists(st.integers(1, 9), min_size=2, max_size=4), seed=st.integers(0, 100))
def test_batched_greedy_equals_per_sequence(tiny_target, lens, seed):
    gen = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, 96, (n,), generator=gen) for n in lens]
    eos = int(prompts[0][0])  # some rows stop early on it, others run to max_new_tokens
    cfg = DecodeConfig(10, 64, eos_ids=(eos,))
    batched = generate_batch(tiny_target, prompts, cfg)
    assert batched == [generate(tiny_target, Drafter(), p, cfg).tokens for p in prompts]


def test_batched_selfdistill_equals_per_conversation_and_writes_gzip(target, tmp_path):
    dcfg = DecodeConfig(12, 512)
    one = regenerate(target, CONVS, tmp_path / "one.json", dcfg, max_user_turns=2)
    many = regenerate(target, CONVS, tmp_path / "many.jsonl.gz", dcfg, max_user_turns=2,
                      batch_size=3)
    assert many == one
    assert load_conversations(str(tmp_path / "many.jsonl.gz"), 10) == \
        load_conversations(str(tmp_path / "one.json"), 10)
    # Deterministic bytes: equal rows give an equal compressed file (hash-stable artifact).
    again = regenerate(target, CONVS, tmp_path / "again.jsonl.gz", dcfg, 2, batch_size=2)
    assert again == one
    assert (tmp_path / "again.jsonl.gz").read_bytes() == (tmp_path / "many.jsonl.gz").read_bytes()
