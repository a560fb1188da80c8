"""Bad input fails once, clearly, before any decoding or training work."""

from __future__ import annotations

import json

import pytest
from kangaroo.assets import load_target
from kangaroo.data import load_questions, load_sharegpt
from kangaroo.decode import generate
from kangaroo.schema import ConfigError, DecodeConfig, ModelConfig, TrainConfig, build
from kangaroo.selfdistill import _read_partial


@pytest.mark.parametrize("exit_layer", [0, 4, 9])
def test_exit_layer_out_of_range(tiny_target, exit_layer: int) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="exit_layer"):
        generate(tiny_target, exit_layer, None, [1, 2], DecodeConfig())


def test_unknown_model_spec() -> None:
    with pytest.raises(ValueError, match="model.spec 'no-such-model'"):
        load_target("no-such-model")


def test_question_file_errors(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "q.jsonl"
    bad.write_text(json.dumps({"question_id": 1, "turns": ["hi"]}) + "\n"
                   + json.dumps({"question_id": 2, "prompt": "hi"}) + "\n")
    with pytest.raises(ValueError, match=r"q.jsonl:2: expected an object with 'question_id'"):
        load_questions(bad)
    torn = tmp_path / "t.jsonl"
    torn.write_text(json.dumps({"question_id": 1, "turns": ["hi"]}) + "\n{\"question_id\": 2, \"tu")
    with pytest.raises(ValueError, match=r"t.jsonl:2: not JSON"):
        load_questions(torn)
    with pytest.raises(FileNotFoundError, match="eval.benchmarks"):
        load_questions(tmp_path / "missing.jsonl")


def test_truncated_sharegpt_names_file_and_line(tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "sg.json"
    f.write_text('[{"conversations": [{"from": "human", "value": "hi"}]},\n {"conv')
    with pytest.raises(ValueError, match=r"sg.json: not valid JSON at line 2"):
        load_sharegpt(f, 10, 0)
    f.write_text('[{"conversations": [{"from": "robot", "value": "hi"}]}]')
    with pytest.raises(ValueError, match="conversation 0 needs"):
        load_sharegpt(f, 10, 0)


def test_torn_self_distill_line_is_dropped_but_middle_damage_refused(tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "p.partial.jsonl"
    row = json.dumps({"id": 0, "conversation": [{"role": "user", "content": "x"}]})
    f.write_text(row + "\n" + '{"id": 1, "conv')
    assert list(_read_partial(f)) == [0]
    assert f.read_text() == row + "\n"  # the torn row is gone; it is answered again
    f.write_text('{"id": 1, "conv\n' + row + "\n")
    with pytest.raises(ValueError, match="p.partial.jsonl:1"):
        _read_partial(f)


def test_schema_rejects_unknown_wrong_type_and_range() -> None:
    with pytest.raises(ConfigError, match="'train.typo': unknown key"):
        build(TrainConfig, {"typo": 1}, "train")
    with pytest.raises(ConfigError, match="'train.lr': expected a number"):
        build(TrainConfig, {"lr": "fast"}, "train")
    for key in ("log_every", "save_every", "max_steps", "batch_size"):
        with pytest.raises(ConfigError, match=f"'train.{key}': must be > 0"):
            build(TrainConfig, {key: 0}, "train")
    with pytest.raises(ConfigError, match="train.warmup_steps"):
        build(TrainConfig, {"warmup_steps": -1}, "train")
    with pytest.raises(ConfigError, match="model.exit_layer"):
        build(ModelConfig, {"exit_layer": 0}, "model")
    with pytest.raises(ConfigError, match="decode.eta"):
        build(DecodeConfig, {"eta": 1.5}, "decode")
