"""JSON schemas of every message that crosses a topic boundary, committed as snapshots in schemas/json.

A unit test compares the committed files with the current models, so a contract change is always a visible,
reviewed diff. After an intentional change run ``python -m schemas.snapshots --write`` (and bump
``schema_version`` when old consumers or producers would break). Only the ``__main__`` path writes files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel

from schemas.dead_letter import DeadLetter
from schemas.events import MediaTranscript, SocialPost, input_event_json_schema
from schemas.results import ModerationResult

JsonSchema = dict[str, object]
SNAPSHOT_DIR = Path(__file__).resolve().parent / "json"
WRITE_COMMAND = "python -m schemas.snapshots --write"


def _input(model: type[BaseModel]) -> Callable[[], JsonSchema]:
    """Inputs are described as the worker validates them."""
    return lambda: model.model_json_schema(mode="validation")


def _output(model: type[BaseModel]) -> Callable[[], JsonSchema]:
    """Outputs are described as the worker serializes them for consumers."""
    return lambda: model.model_json_schema(mode="serialization")


_BOUNDARY_SCHEMAS: dict[str, Callable[[], JsonSchema]] = {
    "input_event": input_event_json_schema,
    "social_post": _input(SocialPost),
    "media_transcript": _input(MediaTranscript),
    "moderation_result": _output(ModerationResult),
    "dead_letter": _output(DeadLetter),
}


def boundary_schemas() -> dict[str, JsonSchema]:
    """Snapshot name -> current JSON schema, for every boundary model."""
    return {name: build() for name, build in _BOUNDARY_SCHEMAS.items()}


def snapshot_path(name: str, directory: Path = SNAPSHOT_DIR) -> Path:
    return directory / f"{name}.schema.json"


def render(schema: JsonSchema) -> str:
    """The committed text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.snapshots", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write the snapshots to {SNAPSHOT_DIR}")
    args = parser.parse_args(argv)
    current = boundary_schemas()
    if not args.write:
        sys.stdout.write(render(current))
        return 0
    SNAPSHOT_DIR.mkdir(exist_ok=True)
    for name, schema in current.items():
        path = snapshot_path(name)
        path.write_text(render(schema), encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
