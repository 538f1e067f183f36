"""`modstream classify` as a real process on the real model: the offline contract later checks rely on."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from workers.settings import REPO_ROOT

pytestmark = pytest.mark.timeout(180)

SRT_BODY = (
    "1\n00:00:01,000 --> 00:00:03,000\nwelcome back to the stream everyone\n\n"
    "2\n00:00:03,500 --> 00:00:06,000\nI know where you live and I will hurt you tonight\n"
)
INPUT_LINES = [
    {"id": "c1", "text": "I love this community, you are all wonderful"},
    {"id": "c2", "text": "you are a worthless idiot and everyone hates you"},
    {
        "schema_version": 1,
        "kind": "post",
        "id": "c3",
        "platform": "x",
        "author_id": "u1",
        "text": "The bus was late again today.",
        "created_at": "2026-11-23T10:00:00Z",
    },
    {
        "schema_version": 1,
        "kind": "transcript",
        "id": "c4",
        "media_id": "m1",
        "format": "srt",
        "body": SRT_BODY,
        "created_at": "2026-11-23T10:00:00Z",
    },
    {"schema_version": 2, "kind": "post", "id": "c5"},
]


@dataclass
class ClassifyRun:
    returncode: int
    results: dict[str, dict]
    errors: list[dict]
    stderr: str


def _classify(folder: Path, lines: bytes, *options: str) -> ClassifyRun:
    """Run `modstream classify` on ``lines`` as a real process."""
    source, output = folder / "in.jsonl", folder / "out.jsonl"
    source.write_bytes(lines)
    completed = subprocess.run(
        [sys.executable, "-m", "workers.cli", "classify", "-i", str(source), "-o", str(output), *options],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    results = {}
    if output.exists():
        results = {r["event_id"]: r for r in map(orjson.loads, output.read_bytes().splitlines())}
    errors_path = folder / "out.errors.jsonl"
    errors = (
        [orjson.loads(line) for line in errors_path.read_bytes().splitlines()] if errors_path.exists() else []
    )
    return ClassifyRun(completed.returncode, results, errors, completed.stderr)


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory: pytest.TempPathFactory) -> ClassifyRun:
    lines = b"\n".join(orjson.dumps(line) for line in INPUT_LINES) + b"\nnot json at all\n"
    return _classify(tmp_path_factory.mktemp("classify"), lines)


@pytest.fixture(scope="module")
def policy_run(tmp_path_factory: pytest.TempPathFactory) -> ClassifyRun:
    lines = [
        {
            "id": "s1",
            "text": "DM me now to double your bitcoin in 24 hours, guaranteed returns, limited spots",
        },
        {"id": "s2", "text": "the library opens at nine tomorrow, see you there"},
    ]
    policy = str(REPO_ROOT / "examples" / "policy.yaml")
    folder = tmp_path_factory.mktemp("classify-policy")
    return _classify(folder, b"\n".join(map(orjson.dumps, lines)), "--policy", policy, "--no-progress")


def test_classify_exits_zero(classify_run: ClassifyRun) -> None:
    assert classify_run.returncode == 0, classify_run.stderr


def test_classify_writes_one_result_per_valid_line(classify_run: ClassifyRun) -> None:
    assert sorted(classify_run.results) == ["c1", "c2", "c3", "c4"]


def test_classify_sends_invalid_lines_to_the_errors_file(classify_run: ClassifyRun) -> None:
    assert sorted(e["reason"] for e in classify_run.errors) == ["invalid_json", "unsupported_schema_version"]


def test_classify_results_carry_the_contract_fields(classify_run: ClassifyRun) -> None:
    for result in classify_run.results.values():
        assert result["model"]["name"] and result["model"]["version"]
        assert result["sentiment"]["label"] in {"negative", "neutral", "positive"}
        assert sum(result["sentiment"]["scores"].values()) == pytest.approx(1.0, abs=1e-3)
        assert set(result["moderation"]["scores"]) >= {"toxicity", "insult", "threat", "identity_attack"}
        assert result["decision"] in {"allow", "review", "block"}
        assert isinstance(result["reasons"], list)


def test_classify_scores_an_insult_above_a_compliment(classify_run: ClassifyRun) -> None:
    insult = classify_run.results["c2"]["moderation"]["scores"]
    compliment = classify_run.results["c1"]["moderation"]["scores"]
    assert insult["insult"] > compliment["insult"]
    assert insult["toxicity"] > compliment["toxicity"]


def test_classify_reads_a_compliment_as_positive(classify_run: ClassifyRun) -> None:
    assert classify_run.results["c1"]["sentiment"]["label"] == "positive"


def test_classify_flags_the_threat_window_of_a_transcript_with_timecodes(classify_run: ClassifyRun) -> None:
    transcript = classify_run.results["c4"]
    assert transcript["decision"] != "allow"
    assert (
        transcript["moderation"]["scores"]["threat"]
        > classify_run.results["c1"]["moderation"]["scores"]["threat"]
    )
    assert all(span["start_s"] is not None for span in transcript["spans"])
    assert transcript["spans"], "a flagged transcript must point at its flagged window"


def test_classify_spans_point_at_the_flagged_text_in_the_source(classify_run: ClassifyRun) -> None:
    covered = [
        SRT_BODY[s["source_char_start"] : s["source_char_end"]] for s in classify_run.results["c4"]["spans"]
    ]
    assert any("I will hurt you tonight" in text for text in covered), covered


def test_classify_with_a_policy_scores_its_custom_categories_from_their_examples(
    policy_run: ClassifyRun,
) -> None:
    assert policy_run.returncode == 0, policy_run.stderr
    scam, calm = policy_run.results["s1"]["moderation"], policy_run.results["s2"]["moderation"]
    assert scam["engines"]["scam"] == "examples"
    assert scam["scores"]["scam"] > calm["scores"]["scam"]
    assert policy_run.results["s1"]["policy_version"]
