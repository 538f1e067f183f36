"""Pure functions that turn input events into TextDocuments and chunks. No I/O, no model code."""
