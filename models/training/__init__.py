"""Training, export, quantization and calibration of the default model (needs the `train` extra)."""
