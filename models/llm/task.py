"""What a few-shot task is: an instruction, labels, the words that stand for them, and a few examples.

Everything here is checked without a tokenizer. The checks that need one (a verbalizer's first token
shared by two labels) run when an engine first scores the task (``models.llm.verbalizers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from schemas.errors import ConfigError

BINARY_LABELS: tuple[str, str] = ("no", "yes")


class FewShotTaskError(ConfigError, ValueError):
    """A few-shot task definition is invalid; the message says which field and how to fix it."""


def default_verbalizer(label: str) -> str:
    """The word that stands for a label when none is given: the label name, first letter capitalized."""
    return label[:1].upper() + label[1:]


@dataclass(frozen=True, slots=True)
class FewShotTask:
    """A classification task given to a language model in its prompt.

    ``verbalizers`` maps each label to the words the model may answer with for it (the first token of
    each word is what gets scored); labels left out get ``default_verbalizer(label)``. ``examples``
    are ``(text, label)`` pairs shown in the prompt in the order given.
    """

    name: str
    instruction: str
    labels: tuple[str, ...]
    examples: tuple[tuple[str, str], ...] = ()
    verbalizers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        object.__setattr__(self, "labels", labels)
        where = f"few-shot task {self.name!r}"
        if not self.name.strip():
            raise FewShotTaskError("a few-shot task needs a non-empty name")
        if not self.instruction.strip():
            raise FewShotTaskError(f"{where}: the instruction is empty; say what to classify and how")
        _check_labels(where, labels)
        verbalizers = _normalized_verbalizers(where, labels, self.verbalizers)
        object.__setattr__(self, "verbalizers", MappingProxyType(verbalizers))
        examples = tuple((str(text), str(label)) for text, label in self.examples)
        object.__setattr__(self, "examples", examples)
        for index, (text, label) in enumerate(examples):
            if label not in labels:
                raise FewShotTaskError(
                    f"{where}: example {index} has label {label!r}, which is not one of the task's labels "
                    f"{list(labels)}; fix the example or add the label"
                )
            if not text.strip():
                raise FewShotTaskError(f"{where}: example {index} (label {label!r}) has an empty text")

    def verbalizer_words(self, label: str) -> tuple[str, ...]:
        """The words that stand for ``label``, primary word first."""
        return self.verbalizers[label]

    def label_word(self, label: str) -> str:
        """The word written after an example of ``label`` in the prompt (its first verbalizer)."""
        return self.verbalizers[label][0]


def _check_labels(where: str, labels: tuple[str, ...]) -> None:
    if len(labels) < 2:
        raise FewShotTaskError(f"{where}: needs at least two labels, got {list(labels)}")
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise FewShotTaskError(f"{where}: label names must be non-empty strings, got {label!r}")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise FewShotTaskError(f"{where}: labels {duplicates} appear more than once; each label once")


def _normalized_verbalizers(
    where: str, labels: tuple[str, ...], given: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    unknown = sorted(set(given) - set(labels))
    if unknown:
        raise FewShotTaskError(
            f"{where}: verbalizers given for {unknown}, which are not labels of the task {list(labels)}"
        )
    verbalizers: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for label in labels:
        raw = given.get(label)
        if raw is None:
            words: tuple[str, ...] = (default_verbalizer(label),)
        elif isinstance(raw, str):
            raise FewShotTaskError(
                f"{where}: verbalizers[{label!r}] must be a tuple of words, got the string {raw!r}; "
                f"write ({raw!r},)"
            )
        else:
            words = tuple(raw)
        if not words:
            raise FewShotTaskError(
                f"{where}: label {label!r} has an empty verbalizer; give at least one word"
            )
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise FewShotTaskError(f"{where}: label {label!r} has a blank verbalizer word {word!r}")
            if word != word.strip():
                raise FewShotTaskError(
                    f"{where}: verbalizer word {word!r} of label {label!r} has surrounding whitespace; "
                    "write the bare word, the engine adds the leading-space variant itself"
                )
            previous = owner.setdefault(word, label)
            if previous != label:
                raise FewShotTaskError(
                    f"{where}: the word {word!r} stands for both {previous!r} and {label!r}; "
                    "each verbalizer word must belong to one label"
                )
        verbalizers[label] = words
    return verbalizers


def binary_task(
    name: str,
    description: str,
    positives: Iterable[str],
    negatives: Iterable[str],
    *,
    instruction: str | None = None,
) -> FewShotTask:
    """A yes/no task for one moderation category; the probability of ``"yes"`` is the category score.

    ``description`` says what belongs to the category (e.g. "insults or demeaning remarks aimed at a
    person"). Examples are interleaved negative, positive, negative, ... so that neither answer is
    always the most recent one; leftovers of the longer list go last.

    Measured once with SmolLM2-135M (3 + 3 hand-written examples, "offensive" category, 240 TweetEval
    offensive validation tweets): ranking at chance level (AUC 0.47-0.57 over the three prompt styles),
    so a category score from that model carries little signal; use a larger local model for real use.
    """
    positive_texts = [text for text in positives]
    negative_texts = [text for text in negatives]
    where = f"binary task {name!r}"
    if not description.strip():
        raise FewShotTaskError(f"{where}: the category description is empty; say what the category covers")
    if not positive_texts or not negative_texts:
        raise FewShotTaskError(
            f"{where}: needs at least one positive and one negative example "
            f"(got {len(positive_texts)} positive, {len(negative_texts)} negative)"
        )
    examples: list[tuple[str, str]] = []
    for index in range(max(len(positive_texts), len(negative_texts))):
        if index < len(negative_texts):
            examples.append((negative_texts[index], "no"))
        if index < len(positive_texts):
            examples.append((positive_texts[index], "yes"))
    text = instruction or (
        f"Decide whether a text belongs to the moderation category {name!r}: {description.strip()}\n"
        "Answer Yes if it does and No if it does not."
    )
    return FewShotTask(
        name=name,
        instruction=text,
        labels=BINARY_LABELS,
        examples=tuple(examples),
        verbalizers={"no": ("No",), "yes": ("Yes",)},
    )
