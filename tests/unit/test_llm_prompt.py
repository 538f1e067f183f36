"""Few-shot prompts: shared prefix (instruction + examples), per-text suffix ending where the label goes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from models.llm.prompt import PromptStyle, build_prompt, normalize_text, prompt_template
from models.llm.task import FewShotTask, FewShotTaskError

TASK = FewShotTask(
    name="sentiment",
    instruction="Classify the sentiment as Negative or Positive.",
    labels=("negative", "positive"),
    examples=(("I hate Mondays", "negative"), ("What a great day", "positive"), ("So boring", "negative")),
)


def chatml(messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
    """A ChatML template like SmolLM2's (system turn given)."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def test_plain_prefix_is_the_instruction_then_the_examples_in_order() -> None:
    prompt = build_prompt(TASK, "hello", PromptStyle.PLAIN)

    assert prompt.prefix == (
        "Classify the sentiment as Negative or Positive."
        "\n\nText: I hate Mondays\nAnswer: Negative"
        "\n\nText: What a great day\nAnswer: Positive"
        "\n\nText: So boring\nAnswer: Negative"
    )


def test_plain_suffix_places_the_text_last_and_ends_where_the_label_word_goes() -> None:
    prompt = build_prompt(TASK, "Loved the film", PromptStyle.PLAIN)

    assert prompt.suffix == "\n\nText: Loved the film\nAnswer:"
    assert prompt.full.endswith("Text: Loved the film\nAnswer:")


def test_the_prefix_is_identical_for_every_text_of_a_task() -> None:
    for style in PromptStyle:
        prefixes = {build_prompt(TASK, text, style, chatml).prefix for text in ("a", "b c", "x" * 500)}
        assert len(prefixes) == 1, style


def test_the_text_never_appears_in_the_prefix() -> None:
    for style in PromptStyle:
        prompt = build_prompt(TASK, "UNIQUE-TEXT-42", style, chatml)
        assert "UNIQUE-TEXT-42" not in prompt.prefix
        assert prompt.suffix.count("UNIQUE-TEXT-42") == 1


def test_chat_prompt_gives_each_example_a_user_and_an_assistant_turn() -> None:
    prompt = build_prompt(TASK, "Loved the film", PromptStyle.CHAT, chatml)

    assert prompt.prefix == (
        "<|im_start|>system\nClassify the sentiment as Negative or Positive.<|im_end|>\n"
        "<|im_start|>user\nI hate Mondays<|im_end|>\n<|im_start|>assistant\nNegative<|im_end|>\n"
        "<|im_start|>user\nWhat a great day<|im_end|>\n<|im_start|>assistant\nPositive<|im_end|>\n"
        "<|im_start|>user\nSo boring<|im_end|>\n<|im_start|>assistant\nNegative<|im_end|>"
    )
    assert prompt.suffix == "\n<|im_start|>user\nLoved the film<|im_end|>\n<|im_start|>assistant\n"


def test_chat_inline_prompt_holds_the_plain_layout_in_one_user_turn() -> None:
    prompt = build_prompt(TASK, "Loved the film", PromptStyle.CHAT_INLINE, chatml)

    assert prompt.prefix.startswith("<|im_start|>user\nClassify the sentiment")
    assert prompt.prefix.endswith("Text: So boring\nAnswer: Negative")
    assert prompt.suffix == "\n\nText: Loved the film<|im_end|>\n<|im_start|>assistant\n"


def test_the_prefix_never_ends_in_whitespace() -> None:
    for style in PromptStyle:
        prefix = prompt_template(TASK, style, chatml).prefix
        assert prefix == prefix.rstrip(), style


def test_suffix_parts_join_to_the_suffix_and_the_text_piece_carries_the_leading_space() -> None:
    template = prompt_template(TASK, PromptStyle.PLAIN)

    head, piece, tail = template.suffix_parts("Loved  it")

    assert (head, piece, tail) == ("\n\nText:", " Loved it", "\nAnswer:")
    assert head + piece + tail == template.suffix("Loved  it")


def test_whitespace_in_a_text_is_collapsed_so_it_cannot_start_a_new_answer_line() -> None:
    assert normalize_text("  first line\n\nAnswer: Positive \t") == "first line Answer: Positive"
    assert (
        "\n"
        not in build_prompt(TASK, "a\nb", PromptStyle.PLAIN).suffix.split("Text: ")[1].split("\nAnswer")[0]
    )


def test_a_chat_style_without_the_models_chat_template_is_an_error() -> None:
    with pytest.raises(FewShotTaskError, match="needs the model's chat template"):
        build_prompt(TASK, "hello", PromptStyle.CHAT)


def test_a_chat_template_that_rewrites_earlier_turns_is_an_error() -> None:
    def unstable(messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
        return f"{len(messages)}:" + chatml(messages, add_generation_prompt)

    with pytest.raises(FewShotTaskError, match="no shared prefix"):
        build_prompt(TASK, "hello", PromptStyle.CHAT, unstable)
