"""Prompts for a few-shot task, split into a shared prefix and a per-text suffix (pure functions, no model).

A prompt is ``prefix + text_head + text + text_tail``. The prefix (instruction and examples) is the same
for every text of a task, so an engine runs it once and keeps its key/value cache; the suffix is the
rest. The prompt ends exactly where the label word comes next.

Boundaries are placed so that tokenizing the parts one by one gives the same tokens as tokenizing the
whole string with a byte-level BPE: the prefix and the head never end in whitespace (trailing
whitespace moves to the next part, where the BPE would have attached it to the following word).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from models.llm.task import FewShotTask, FewShotTaskError

ChatMessage = dict[str, str]
# Renders messages with the model's chat template: (messages, add_generation_prompt) -> text.
ChatRenderer = Callable[[Sequence[ChatMessage], bool], str]

TEXT_FIELD = "Text"
ANSWER_FIELD = "Answer"
_SENTINEL = "\x00MODSTREAM_TEXT\x00"


class PromptStyle(StrEnum):
    """How instruction, examples and text are laid out."""

    PLAIN = "plain"  # "instruction\n\nText: ...\nAnswer: Label" blocks, no chat template
    CHAT = "chat"  # chat template: instruction as system, one user/assistant turn per example
    CHAT_INLINE = "chat_inline"  # chat template: one user turn holding the plain layout, assistant answers

    @property
    def needs_chat_template(self) -> bool:
        return self is not PromptStyle.PLAIN

    @property
    def label_follows_space(self) -> bool:
        """Whether the natural continuation is " Label" (after "Answer:") rather than "Label"."""
        return self is PromptStyle.PLAIN


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A task's prompt with a hole for the text: ``prefix`` is shared, ``text_head + text + text_tail`` is not."""

    prefix: str
    text_head: str
    text_tail: str
    style: PromptStyle

    def suffix(self, text: str) -> str:
        return self.text_head + normalize_text(text) + self.text_tail

    def suffix_parts(self, text: str) -> tuple[str, str, str]:
        """``(head, text piece, tail)`` joined give ``suffix(text)``; tokenized one by one they give its tokens.

        The head's trailing spaces go with the text piece (a BPE attaches a space to the word after it),
        so the text can be tokenized on its own, with special-token strings in it kept as plain text.
        """
        head = self.text_head.rstrip(" ")
        return head, self.text_head[len(head) :] + normalize_text(text), self.text_tail


@dataclass(frozen=True, slots=True)
class Prompt:
    """One text's prompt: ``prefix + suffix`` is what the model reads; the label word comes next."""

    prefix: str
    suffix: str

    @property
    def full(self) -> str:
        return self.prefix + self.suffix


def normalize_text(text: str) -> str:
    """Whitespace runs (newlines included) become one space and the ends are stripped.

    A newline inside a text would otherwise look like the start of the "Answer:" line of the layout.
    """
    return " ".join(text.split())


def prompt_template(
    task: FewShotTask, style: PromptStyle | str = PromptStyle.PLAIN, render_chat: ChatRenderer | None = None
) -> PromptTemplate:
    """The task's prompt with a hole for the text. Chat styles need ``render_chat`` (the model's template)."""
    style = PromptStyle(style)
    if style is PromptStyle.PLAIN:
        prefix, head, tail = _plain_parts(task)
    else:
        if render_chat is None:
            raise FewShotTaskError(
                f"prompt style {style.value!r} needs the model's chat template (render_chat); "
                "use style 'plain' for a model without one"
            )
        prefix, head, tail = _chat_parts(task, style, render_chat)
    prefix, head = _move_trailing_whitespace(prefix, head)
    return PromptTemplate(prefix=prefix, text_head=head, text_tail=tail, style=style)


def build_prompt(
    task: FewShotTask,
    text: str,
    style: PromptStyle | str = PromptStyle.PLAIN,
    render_chat: ChatRenderer | None = None,
) -> Prompt:
    """The prompt for one text: shared prefix (instruction + examples) and the text's suffix."""
    template = prompt_template(task, style, render_chat)
    return Prompt(prefix=template.prefix, suffix=template.suffix(text))


def _plain_block(text: str) -> str:
    return f"\n\n{TEXT_FIELD}: {normalize_text(text)}\n{ANSWER_FIELD}:"


def _plain_examples(task: FewShotTask) -> str:
    return "".join(f"{_plain_block(text)} {task.label_word(label)}" for text, label in task.examples)


def _plain_parts(task: FewShotTask) -> tuple[str, str, str]:
    prefix = task.instruction.strip() + _plain_examples(task)
    return prefix, f"\n\n{TEXT_FIELD}: ", f"\n{ANSWER_FIELD}:"


def _chat_parts(task: FewShotTask, style: PromptStyle, render_chat: ChatRenderer) -> tuple[str, str, str]:
    if style is PromptStyle.CHAT:
        shared: list[ChatMessage] = [{"role": "system", "content": task.instruction.strip()}]
        for text, label in task.examples:
            shared.append({"role": "user", "content": normalize_text(text)})
            shared.append({"role": "assistant", "content": task.label_word(label)})
        full = render_chat([*shared, {"role": "user", "content": _SENTINEL}], True)
        before = render_chat(shared, False)
        if not full.startswith(before):
            raise FewShotTaskError(
                "the chat template renders the example turns differently once another turn follows, so "
                "the prompt has no shared prefix; use prompt style 'chat_inline' or 'plain'"
            )
        rest = full[len(before) :]
        prefix = before
    else:
        content = task.instruction.strip() + _plain_examples(task) + f"\n\n{TEXT_FIELD}: {_SENTINEL}"
        rest = render_chat([{"role": "user", "content": content}], True)
        prefix = ""
    if rest.count(_SENTINEL) != 1:
        raise FewShotTaskError(
            "the chat template dropped or repeated the user's text; use prompt style 'plain'"
        )
    head, tail = rest.split(_SENTINEL)
    if not prefix:
        # Inline: everything before the text is shared, cut at the last line break before it.
        cut = head.rfind("\n") + 1
        prefix, head = head[:cut], head[cut:]
    return prefix, head, tail


def _move_trailing_whitespace(left: str, right: str) -> tuple[str, str]:
    """Move ``left``'s trailing whitespace to the front of ``right`` (BPE attaches it to what follows)."""
    stripped = left.rstrip()
    return stripped, left[len(stripped) :] + right
