"""Multi-turn chat through the target's chat template (self-distillation and evaluation)."""

from __future__ import annotations

from collections.abc import Callable


def answer_turns(tokenizer, user_turns: list[str],  # noqa: ANN001
                 respond: Callable[[int, list[int]], list[int]],
                 eos_ids: list[int]) -> tuple[list[dict], list[list[int]]]:
    """Ask the user turns one after another; ``respond(turn, prompt_ids)`` returns the new token
    ids. Returns the conversation and the raw token ids of every answer."""
    history: list[dict] = []
    answers = []
    for i, turn in enumerate(user_turns):
        history.append({"role": "user", "content": turn})
        prompt = tokenizer.apply_chat_template(history, add_generation_prompt=True,
                                               tokenize=False)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        new = respond(i, ids)
        answers.append(new)
        text_ids = [t for t in new if t not in eos_ids]
        history.append({"role": "assistant",
                        "content": tokenizer.decode(text_ids, skip_special_tokens=True).strip()})
    return history, answers
