"""ONNX Runtime implementation of ``models.base.TextClassifier`` for a verified model folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from tokenizers import Tokenizer

from models.activation_quantization import per_token_int8
from models.base import DEFAULT_ACTIVATIONS, Activations, CategoryThresholds, Encoded, Predictions
from models.manifest import ModelManifest, load_manifest, read_verified
from schemas.errors import InferenceError, ModelLoadError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "artifacts" / "modstream-minilm"
SUPPORTED_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})
REQUIRED_INPUTS = frozenset({"input_ids", "attention_mask"})
EMBEDDING_OUTPUT = "embedding"
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def choose_providers(requested: Sequence[str] = ()) -> list[str]:
    """The requested providers (all must be available), else CUDA when available, always ending with CPU."""
    available = ort.get_available_providers()
    if requested:
        missing = [name for name in requested if name not in available]
        if missing:
            raise ModelLoadError(
                f"ONNX Runtime providers {missing} are not available here (available: {available}); "
                "install onnxruntime-gpu for CUDA or leave MODSTREAM_MODEL__PROVIDERS empty"
            )
        chosen = list(requested)
    else:
        chosen = [CUDA_PROVIDER] if CUDA_PROVIDER in available else []
    if CPU_PROVIDER not in chosen:
        chosen.append(CPU_PROVIDER)
    return chosen


def create_session(
    graph: Path | bytes,
    *,
    quantization: str,
    providers: Sequence[str],
    intra_op_threads: int = 0,
    allow_spinning: bool = False,
    activations: Activations = "float32",
) -> ort.InferenceSession:
    """An ONNX Runtime session configured for how the graph was quantized (shared with the build's checks).

    Idle intra-op threads do not spin by default: in the worker they share the cores with the tokenizer
    thread and the event loop, and spinning threads measured ~15 % slower on a busy 2-core host
    (``bench/classifier.py``, lever "ORT spinning"). ``activations="int8_per_token"`` runs the MatMuls of an
    ``int8_weight_only`` graph on int8 activations with one scale per token (models.activation_quantization)
    when the session is CPU-only; elsewhere, and for other graphs, activations stay float32. ``graph`` is
    a path or the graph's bytes (as verified by ``models.manifest.read_verified``).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads
    if not allow_spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if quantization == "int8_weight_only":
        # Let ONNX Runtime fold the int8 weights back to float32 once at load instead of fusing them into
        # MatMulNBits kernels, which measured ~20 % slower here; activations are float32 either way.
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    cpu_only = list(providers) == [CPU_PROVIDER]
    if activations == "int8_per_token" and quantization == "int8_weight_only" and cpu_only:
        model = onnx.load_from_string(graph) if isinstance(graph, bytes) else onnx.load(str(graph))
        rewritten = per_token_int8(model).SerializeToString()
        return ort.InferenceSession(rewritten, sess_options=options, providers=list(providers))
    source = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(source, sess_options=options, providers=list(providers))


def load_tokenizer(source: Path | bytes, max_length: int) -> Tokenizer:
    """A ``tokenizers`` tokenizer that truncates to ``max_length`` and pads only to the batch's longest text.

    ``source`` is a tokenizer.json path or its bytes. The file's own padding setting (the encoder ships a
    fixed 128) is replaced.
    """
    try:
        if isinstance(source, bytes):
            tokenizer = Tokenizer.from_str(source.decode("utf-8"))
        else:
            tokenizer = Tokenizer.from_file(str(source))
    except Exception as error:  # tokenizers raises plain Exception subclasses (and bytes may not be UTF-8)
        what = source if isinstance(source, Path) else "the tokenizer bytes"
        raise ModelLoadError(f"{what} is not a valid tokenizers file: {error}") from error
    tokenizer.enable_truncation(max_length=max_length)
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
    return tokenizer


class OnnxClassifier:
    """Tokenizer + one ONNX Runtime session producing sentiment and moderation scores.

    ``encode`` and ``infer`` are CPU/GPU-bound and thread-safe: call them from an executor.
    """

    def __init__(
        self,
        folder: Path,
        providers: Sequence[str] = (),
        intra_op_threads: int = 0,
        activations: Activations = DEFAULT_ACTIVATIONS,
    ) -> None:
        self._folder = Path(folder)
        self._manifest: ModelManifest = load_manifest(self._folder, defer_model_files=True)
        try:
            self._session = create_session(
                read_verified(self._folder, self._manifest, self._manifest.graph_file),
                quantization=self._manifest.quantization,
                providers=choose_providers(providers),
                intra_op_threads=intra_op_threads,
                activations=activations,
            )
        except ModelLoadError:
            raise
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"ONNX Runtime could not load {self._folder}: {error}") from error
        self._input_names = tuple(node.name for node in self._session.get_inputs())
        self._check_contract()
        self._outputs = ["sentiment_logits", "moderation_logits"]
        self._embedding_dim: int | None = None
        for node in self._session.get_outputs():
            if node.name == EMBEDDING_OUTPUT:
                self._outputs.append(EMBEDDING_OUTPUT)
                declared = node.shape[-1] if node.shape else None
                self._embedding_dim = declared if isinstance(declared, int) else None
        tokenizer_bytes = read_verified(self._folder, self._manifest, self._manifest.tokenizer_file)
        self._tokenizer = load_tokenizer(tokenizer_bytes, self.max_length)
        self._sentiment_temperature = np.float32(self._manifest.sentiment_temperature)
        self._moderation_temperatures = np.array(
            [self._manifest.moderation_temperatures[label] for label in self._manifest.moderation_labels],
            dtype=np.float32,
        )
        self._thresholds = self._manifest.category_thresholds()

    def _check_contract(self) -> None:
        names = set(self._input_names)
        if not names >= REQUIRED_INPUTS or not names <= SUPPORTED_INPUTS:
            raise ModelLoadError(
                f"{self._folder}: graph inputs {sorted(names)} are not supported; a model must take "
                f"{sorted(REQUIRED_INPUTS)} and optionally token_type_ids"
            )
        outputs = {node.name: node.shape for node in self._session.get_outputs()}
        expected = {
            "sentiment_logits": len(self._manifest.sentiment_labels),
            "moderation_logits": len(self._manifest.moderation_labels),
        }
        for name, width in expected.items():
            if name not in outputs:
                raise ModelLoadError(f"{self._folder}: graph has no output {name!r} (has {sorted(outputs)})")
            declared = outputs[name][-1] if outputs[name] else None
            if isinstance(declared, int) and declared != width:
                raise ModelLoadError(
                    f"{self._folder}: output {name!r} has {declared} columns but the manifest lists {width} labels"
                )

    @property
    def manifest(self) -> ModelManifest:
        return self._manifest

    @property
    def name(self) -> str:
        return self._manifest.name

    @property
    def version(self) -> str:
        return self._manifest.version

    @property
    def sentiment_labels(self) -> Sequence[str]:
        return self._manifest.sentiment_labels

    @property
    def moderation_labels(self) -> Sequence[str]:
        return self._manifest.moderation_labels

    @property
    def max_length(self) -> int:
        return self._manifest.max_length

    @property
    def thresholds(self) -> Mapping[str, CategoryThresholds]:
        return self._thresholds

    @property
    def embedding_dim(self) -> int | None:
        return self._embedding_dim

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._input_names

    @property
    def providers(self) -> list[str]:
        return list(self._session.get_providers())

    def reads_whole(self, text: str) -> bool:
        # A word piece covers at least one character: a text this short cannot reach the limit.
        if len(text) + 2 <= self.max_length:
            return True
        return not self._tokenizer.encode(text).overflowing

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return [sum(e.attention_mask) for e in self._tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Tokenize, truncating to ``max_length`` and padding to the longest text of this batch only."""
        if not texts:
            empty = np.zeros((0, 0), dtype=np.int64)
            return Encoded(empty, empty, empty if "token_type_ids" in self._input_names else None)
        encodings = self._tokenizer.encode_batch(list(texts))
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        token_type_ids = (
            np.array([e.type_ids for e in encodings], dtype=np.int64)
            if "token_type_ids" in self._input_names
            else None
        )
        return Encoded(input_ids, attention_mask, token_type_ids)

    def infer(self, batch: Encoded) -> Predictions:
        """Calibrated probabilities: softmax(sentiment / T), sigmoid(moderation / T_category)."""
        if batch.size == 0:
            return Predictions(
                np.zeros((0, len(self.sentiment_labels)), dtype=np.float32),
                np.zeros((0, len(self.moderation_labels)), dtype=np.float32),
                None if self._embedding_dim is None else np.zeros((0, self._embedding_dim), np.float32),
            )
        sentiment_logits, moderation_logits, embedding = self._run(batch)
        scaled = sentiment_logits.astype(np.float32) / self._sentiment_temperature
        scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        sentiment = scaled / scaled.sum(axis=1, keepdims=True)
        moderation = 1.0 / (
            1.0 + np.exp(-moderation_logits.astype(np.float32) / self._moderation_temperatures)
        )
        return Predictions(
            sentiment.astype(np.float32),
            moderation.astype(np.float32),
            None if embedding is None else embedding.astype(np.float32),
        )

    def classify(self, texts: Sequence[str]) -> Predictions:
        """``infer(encode(texts))`` in one call (for scripts and tests)."""
        return self.infer(self.encode(texts))

    def _run(self, batch: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The one place the session runs; every head's output (and the embedding) comes from this call."""
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = (
                batch.token_type_ids
                if batch.token_type_ids is not None
                else np.zeros_like(batch.input_ids, dtype=np.int64)
            )
        try:
            outputs = self._session.run(self._outputs, feeds)
        except Exception as error:  # onnxruntime raises untyped errors; the pipeline retries InferenceError
            raise InferenceError(f"ONNX Runtime failed on a batch of {batch.size}: {error}") from error
        embedding = np.asarray(outputs[2]) if len(outputs) > 2 else None
        return np.asarray(outputs[0]), np.asarray(outputs[1]), embedding


def load_default_classifier(
    folder: Path | None = None,
    providers: Sequence[str] = (),
    intra_op_threads: int = 0,
    activations: Activations = DEFAULT_ACTIVATIONS,
) -> OnnxClassifier:
    """The committed default model (``models/artifacts/modstream-minilm``) unless ``folder`` is given."""
    return OnnxClassifier(
        folder or DEFAULT_MODEL_DIR,
        providers=providers,
        intra_op_threads=intra_op_threads,
        activations=activations,
    )
