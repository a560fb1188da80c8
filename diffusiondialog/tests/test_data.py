import json

import pytest
from diffusiondialog.batching import collate, context_features
from diffusiondialog.data import (
    chitchat_conversations,
    conversation_pairs,
    load_dataset,
    merge_turns,
    read_hf_jsonl,
    read_plato_tsv,
    split_conversations,
)
from diffusiondialog.tokenizer import BOS, EOS, PAD


def test_merge_consecutive_messages_of_a_speaker():
    msgs = [("a", "Hello"), ("a", "How are  you?"), ("b", "fine"), ("b", ""), ("a", "ok"),
            ("b", "bye")]
    assert merge_turns(msgs) == [("a", "Hello How are you?"), ("b", "fine"), ("a", "ok"),
                                 ("b", "bye")]


def test_pairs_respect_context_window():
    pairs = conversation_pairs("c", ["t0", "t1", "t2", "t3"], max_context=2)
    assert [(p.context, p.response) for p in pairs] == [
        (("t0",), "t1"), (("t0", "t1"), "t2"), (("t1", "t2"), "t3")]


def test_split_is_seeded_disjoint_and_90_5_5():
    ids = [f"c{i}" for i in range(1000)]
    a, b = split_conversations(ids, 3), split_conversations(list(reversed(ids)), 3)
    assert a == b  # independent of input order, determined by the seed
    assert [len(a[s]) for s in ("train", "dev", "test")] == [900, 50, 50]
    assert not set(a["train"]) & set(a["test"]) and not set(a["dev"]) & set(a["test"])
    assert split_conversations(ids, 4) != a


def test_chitchat_loads_and_splits_without_leaks():
    convs = chitchat_conversations()
    # 7,168 conversations ship; 3,151 of them have a single speaker turn and yield no pair.
    assert len(convs) == 4017 and sum(map(len, convs.values())) == 135565
    # Merged turns alternate speakers, so no two consecutive turns come from one sender.
    data = load_dataset("chitchat", max_context=3, seed=0)
    conv_sets = {s: {p.conversation for p in data[s]} for s in data}
    assert not conv_sets["train"] & conv_sets["test"]
    assert not conv_sets["train"] & conv_sets["dev"]
    assert len(data["train"]) > 10 * len(data["test"])
    assert all(1 <= len(p.context) <= 3 and p.response for p in data["test"])


def test_context_features_roles_and_turns():
    ids, roles, turns = context_features([[10, 11], [12], [13, 14]], max_len=64, max_turn=15)
    assert ids == [BOS, 10, 11, EOS, 12, EOS, 13, 14, EOS]
    assert roles == [0, 1, 1, 0, 2, 0, 1, 1, 0]  # newest utterance role 1, alternating
    assert turns == [0, 4, 4, 0, 3, 0, 2, 2, 0]  # newest utterance turn 2
    ids, _, _ = context_features([[10, 11], [12], [13, 14]], max_len=4, max_turn=15)
    assert ids == [BOS, 13, 14, EOS]  # left truncation keeps the newest tokens


def test_empty_context_raises():
    with pytest.raises(ValueError, match="context is empty"):
        context_features([[]], 16, 15)


def test_collate_shapes_and_shift(tok, pairs):
    b = collate(tok, pairs[:3], 48, 16, 15)
    assert (b["decoder_input_ids"][:, 0] == EOS).all()
    n = b["decoder_mask"].sum(1)
    for i in range(3):
        lab = b["labels"][i, : n[i]]
        assert lab[-1] == EOS and (b["labels"][i, n[i]:] == -100).all()
        assert (b["decoder_input_ids"][i, 1:n[i]] == lab[:-1]).all()
        assert (b["decoder_input_ids"][i, n[i]:] == PAD).all()


def test_plato_tsv_fixture(tmp_path):
    f = tmp_path / "dial.test"
    f.write_text("hi __eou__ hello there\thow are you\n"
                 "i like dogs\thi __eou__ hey\tme too\n")
    rows = read_plato_tsv(f)
    assert rows == [(["hi", "hello there"], "how are you"), (["hi", "hey"], "me too")]
    f.write_text("one field only\n")
    with pytest.raises(ValueError, match="dial.test:1"):
        read_plato_tsv(f)
    f.write_text(" __eou__ \tresponse\n")
    with pytest.raises(ValueError, match="empty context"):
        read_plato_tsv(f)


def test_hf_jsonl_fixture(tmp_path):
    f = tmp_path / "train.jsonl"
    f.write_text(json.dumps({"dialog": ["a", "b", "c"]}) + "\n"
                 + json.dumps({"history": ["x", "y"], "response": "z"}) + "\n")
    assert read_hf_jsonl(f) == [(["a"], "b"), (["a", "b"], "c"), (["x", "y"], "z")]
    f.write_text(json.dumps({"utterances": []}) + "\n")
    with pytest.raises(ValueError, match="expected keys"):
        read_hf_jsonl(f)


def test_folder_formats_and_errors(plato_dir, tmp_path):
    data = load_dataset(str(plato_dir), "plato", max_context=2)
    assert len(data["train"]) == 60 and all(len(p.context) == 2 for p in data["test"])
    with pytest.raises(ValueError, match="data.format"):
        load_dataset(str(plato_dir), "csv")
    with pytest.raises(FileNotFoundError, match="dial.train"):
        load_dataset(str(tmp_path), "plato")
