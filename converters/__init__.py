"""Pure functions that turn input events into TextDocuments and chunks. No I/O, no model code."""

from converters.chunking import chunk_document
from converters.dispatch import source_text, to_document
from converters.normalize import normalize_text

__all__ = ["chunk_document", "normalize_text", "source_text", "to_document"]
