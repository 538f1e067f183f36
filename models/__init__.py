"""ML models: tokenizer + ONNX Runtime session, manifest/registry, training and export code."""
