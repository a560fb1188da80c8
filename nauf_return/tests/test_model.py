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


def test_lora_last_layers_only_adapts_the_top_layers():
    tok = word_tokenizer(["hello world this is a tiny test"])
    base = tiny_llama(tok, hidden=32, layers=3, heads=2, seed=1)
    peft_model = add_lora(base, r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"],
                          last_layers=1)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all(".layers.2." in n for n in trainable)
    with pytest.raises(ConfigError, match="last_layers"):
        add_lora(tiny_llama(tok, hidden=32, layers=3, heads=2), 4, 8, 0.0, ["q_proj"],
                 last_layers=4)


def test_prompt_system_message_replaces_the_default():
    from nauf_return.prompting import PromptFormat

    tok = word_tokenizer(["Where was Ann Lee born ?"])
    default = PromptFormat("{question}").messages("Where was Ann Lee born ?")
    assert [m["role"] for m in default] == ["user"]
    custom = PromptFormat("{question}", system="Be brief.").messages("Where was Ann Lee born ?")
    assert custom[0] == {"role": "system", "content": "Be brief."}
    plain = PromptFormat("{question}").prompt_ids(tok, "Ann Lee ?")
    with_system = PromptFormat("{question}", system="Be brief.").prompt_ids(tok, "Ann Lee ?")
    assert len(with_system) > len(plain) and with_system[-len(plain):] == plain
