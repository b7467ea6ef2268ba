"""The run manifest: versions, git sha, device and torch settings, captured for reproducibility."""

from __future__ import annotations

import hashlib
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


# The instruction-set extensions that decide which kernels MKL and oneDNN pick, and so the float
# rounding of a CPU run: two CPUs of one model name can differ here (virtual machines hide some).
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile")


def cpu_model() -> dict[str, Any]:
    """The CPU's model (Linux: /proc/cpuinfo's name, family, model, stepping) and its SIMD flags.

    Bitwise reproduction of a CPU run needs the same model and flags as well as the same thread
    count; `platform.processor()` says only "x86_64" on Linux.
    """
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if not line.strip():
                    break  # the first processor's block describes them all
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return {"model": platform.processor() or platform.machine(), "simd": []}
    name = fields.get("model name", platform.machine())
    model = f"{name} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')}, "
    model += f"stepping {fields.get('stepping', '?')})"
    flags = set(fields.get("flags", "").split())
    return {"model": model, "simd": [flag for flag in SIMD_FLAGS if flag in flags]}


# The code that turns a job's configuration into its numbers: the training engine, the networks and
# objectives, the data sets and the metrics, and the worker that runs train -> sample -> evaluate.
TRAINING_CODE = ("engine", "models", "data", "metrics", "run/worker.py")


def training_code() -> str:
    """SHA-256 of ganbench's training code (TRAINING_CODE's .py files, by relative path and text).

    A git sha cannot say whether two runs trained with the same code (a tree may be dirty, and a
    commit may change only the docs), and needs a git checkout; this works from any install. Line
    endings are normalized so that a Windows checkout hashes alike.
    """
    package = Path(ganbench.__file__).resolve().parent
    digest = hashlib.sha256()
    for part in TRAINING_CODE:
        files = [package / part] if part.endswith(".py") else sorted((package / part).rglob("*.py"))
        for file in files:
            digest.update(file.relative_to(package).as_posix().encode("utf-8") + b"\0")
            digest.update(file.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def device_info(device: torch.device) -> dict[str, Any]:
    """The device a run used, with its name, and the CPU's model and SIMD flags."""
    info: dict[str, Any] = {"type": device.type, "cpu": platform.processor() or platform.machine()}
    info["cpu_model"] = cpu_model()
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
        "training_code": training_code(),  # sha256 of the code that makes the numbers
        "device": device_info(device),
        "torch": torch_settings(),
        "paths": paths.current(),  # data root, Inception weights file, cache folder
        "streams": streams.SCHEME,  # how every random stream's seed is derived from a job seed
    }
