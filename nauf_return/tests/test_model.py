import pytest
import torch

from nauf_return.errors import ConfigError
from nauf_return.model import add_lora, load_model, tiny_llama, word_tokenizer
from nauf_return.training import make_forwards


def test_lora_reference_via_adapter_disable_equals_base():
    tok = word_tokenizer(["hello world this is a tiny test"])
    base = tiny_llama(tok, hidden=32, layers=2, heads=2, seed=1)
    ids = torch.tensor([[2, 7, 8, 9, 10]])
    with torch.no_grad():
        expected = base(input_ids=ids).logits.clone()
    peft_model = add_lora(base, r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    with torch.no_grad():  # make the adapters non-trivial (B starts at zero)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    policy, reference = make_forwards(peft_model)
    with torch.no_grad():
        adapted = policy({"input_ids": ids})
        ref = reference({"input_ids": ids})
    torch.testing.assert_close(ref, expected)
    assert (adapted - expected).abs().max() > 1e-3
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_word_tokenizer_roundtrip_and_chat_template():
    tok = word_tokenizer(["Where was Ann Lee born ?"])
    ids = tok("Where was Ann Lee born ?", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "Where was Ann Lee born ?"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True)
    assert text.endswith("<assistant> ")


def test_unknown_model_spec():
    with pytest.raises(ConfigError, match="model.spec"):
        load_model("not-a-model")
