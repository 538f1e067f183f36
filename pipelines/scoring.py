"""One step's model outcomes -> per-document window scores (with example-defined categories) and the items
the cascade should see. Works on the whole step at once: one matrix per head, one prototype product."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.prototypes import PrototypeScorer
from pipelines.active_policy import ActivePolicy
from pipelines.assemble import WindowScores
from pipelines.batcher import Scored, TextScores
from pipelines.cascade import Candidate
from schemas.document import Chunk
from schemas.errors import InferenceError

NO_EMBEDDING = "the model gave no embedding for the policy's example-defined categories"


def _stacked(scores: Sequence[TextScores], prototypes: PrototypeScorer) -> tuple[np.ndarray, np.ndarray]:
    sentiment = np.stack([s.sentiment for s in scores])
    moderation = np.stack([s.moderation for s in scores])
    if prototypes.names:
        embeddings = [s.embedding for s in scores]
        if any(e is None for e in embeddings):
            raise InferenceError(NO_EMBEDDING)
        custom = prototypes.score(np.stack(embeddings))  # type: ignore[arg-type]
        moderation = np.concatenate([moderation, custom], axis=1)
    return sentiment, moderation


def window_scores(
    windows_per_document: Sequence[int], outcomes: Sequence[Scored], prototypes: PrototypeScorer
) -> list[WindowScores | InferenceError]:
    """Split a step's per-window outcomes by document; a document with a failed window gets that error."""
    if sum(windows_per_document) != len(outcomes):
        raise ValueError(f"{len(outcomes)} outcomes for {sum(windows_per_document)} windows")
    good = [o for o in outcomes if isinstance(o, TextScores)]
    try:
        sentiment, moderation = _stacked(good, prototypes) if good else (None, None)
    except InferenceError as error:
        return [error for _ in windows_per_document]
    out: list[WindowScores | InferenceError] = []
    start = row = 0
    for count in windows_per_document:
        part = outcomes[start : start + count]
        start += count
        failure = next((o for o in part if isinstance(o, InferenceError)), None)
        if failure is not None:
            row += sum(isinstance(o, TextScores) for o in part)
            out.append(failure)
            continue
        assert sentiment is not None and moderation is not None
        out.append(WindowScores(sentiment[row : row + count], moderation[row : row + count]))
        row += count
    return out


def escalation_candidates(
    policy: ActivePolicy,
    chunks: Sequence[Sequence[Chunk]],
    scored: Sequence[WindowScores | InferenceError],
) -> list[Candidate]:
    """Items whose document score for a category lies in that category's uncertain band."""
    if not policy.escalates:
        return []
    labels = policy.labels
    candidates = []
    for item, (windows, scores) in enumerate(zip(chunks, scored, strict=True)):
        if not isinstance(scores, WindowScores):
            continue
        document_scores = scores.document_scores()
        for category, rule in policy.escalations.items():
            column = labels.index(category)
            score = float(document_scores[column])
            if rule.covers(score):
                window = int(np.argmax(scores.moderation[:, column]))
                candidates.append(Candidate(item, category, score, windows[window].text))
    return candidates
