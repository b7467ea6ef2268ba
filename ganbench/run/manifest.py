"""The run manifest: versions, git sha, device and torch settings, captured for reproducibility."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import ganbench
from ganbench import paths
from ganbench.engine import streams

PACKAGES = (
    "torch",
    "torchvision",
    "torch-fidelity",
    "numpy",
    "pot",
    "pandas",
    "seaborn",
    "matplotlib",
    "typer",
)


def package_versions() -> dict[str, str]:
    """Installed versions of ganbench's main dependencies ('not installed' when absent)."""
    versions = {"python": platform.python_version(), "ganbench": ganbench.__version__}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_state() -> dict[str, Any]:
    """The git commit of the ganbench source tree and whether it had local changes, if it is a repo."""
    source = Path(ganbench.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": bool(dirty)}


def device_info(device: torch.device) -> dict[str, Any]:
    """The device a run used, with its name."""
    info: dict[str, Any] = {"type": device.type, "cpu": platform.processor() or platform.machine()}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    else:
        info["name"] = info["cpu"]
    return info


def torch_settings() -> dict[str, Any]:
    """Settings that change torch's numbers or speed."""
    return {
        "num_threads": torch.get_num_threads(),
        "cuda_version": torch.version.cuda,  # of the torch build, None for CPU-only builds
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "default_dtype": str(torch.get_default_dtype()),
    }


def capture(device: torch.device) -> dict[str, Any]:
    """Everything a reader needs to reproduce a run on the same setup."""
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "host": platform.node(),
        "platform": platform.platform(),
        "versions": package_versions(),
        "git": git_state(),
        "device": device_info(device),
        "torch": torch_settings(),
        "paths": paths.current(),  # data root, Inception weights file, cache folder
        "streams": streams.SCHEME,  # how every random stream's seed is derived from a job seed
    }
