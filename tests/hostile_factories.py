"""Generator factories that misbehave on purpose (`--generator hostile_factories:NAME`, test_hostile_eval.py).

`configured` builds whatever `BEHAVIOUR` says, so a Hypothesis test can draw a misbehaviour and
hand `ganbench eval` a factory that has it; the named factories are the reproduced findings.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

# What `configured()` builds: {"kind": ..., "from_batch": n, "rows": k}; tests set it before eval.
BEHAVIOUR: dict = {"kind": "ok", "from_batch": 1, "rows": 1}


class Misbehaving(nn.Module):
    """Latent 2 -> 2-D points, misbehaving as `kind` says on batches of `from_batch` codes or more."""

    def __init__(self, kind: str, from_batch: int = 1, rows: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.kind, self.from_batch, self.rows = kind, from_batch, rows

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.linear(z)
        if len(z) < self.from_batch:
            return out
        match self.kind:
            case "raise":
                raise RuntimeError("forward exploded")
            case "exit":
                sys.exit(0)
            case "interrupt":
                raise KeyboardInterrupt
            case "three-columns":
                return torch.cat([out, out[:, :1]], 1)
            case "flat":
                return out[:, 0]
            case "short":
                return out[: self.rows]
            case "nan":
                return out.masked_fill(torch.arange(len(z))[:, None] % 7 == 0, float("nan"))
            case "inf":
                return out.masked_fill(torch.arange(len(z))[:, None] % 5 == 0, float("inf"))
            case "huge":
                return out * 1e30
            case "list":
                return out.tolist()
        return out


def configured() -> nn.Module:
    """The factory a test configures through `BEHAVIOUR`."""
    kind = BEHAVIOUR["kind"]
    if kind == "factory-raises":
        raise RuntimeError("factory exploded")
    if kind == "factory-exits":
        raise SystemExit(0)
    return Misbehaving(kind, BEHAVIOUR.get("from_batch", 1), BEHAVIOUR.get("rows", 1))


def raises() -> nn.Module:
    raise RuntimeError("factory exploded")


def exits() -> nn.Module:
    raise SystemExit(0)


def exits_in_forward() -> nn.Module:
    return Misbehaving("exit", from_batch=3)  # passes the 2-code test batch, exits on the real ones


def three_columns_later() -> nn.Module:
    return Misbehaving("three-columns", from_batch=3)


def flat_later() -> nn.Module:
    return Misbehaving("flat", from_batch=3)


def five_rows() -> nn.Module:
    return Misbehaving("short", from_batch=3, rows=5)


def interrupted() -> nn.Module:
    return Misbehaving("interrupt", from_batch=3)


def ok() -> nn.Module:
    return Misbehaving("ok")
