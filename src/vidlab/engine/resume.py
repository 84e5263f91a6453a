"""Crash-safe resume checkpoints.

Each resume point is a directory ``checkpoints/resume/<tag>/`` holding the
weights (``model.safetensors``) and everything else (``state.pt``: optimizer,
scaler, epoch, batch position, history, RNG states), written under a
temporary name and renamed when complete. A one-line ``LATEST`` file, itself
replaced atomically, names the newest complete point; ``state.pt`` records
the SHA-256 of the weights it belongs to, so a point is used only if both
files are there and agree. A process killed at any instant (even ``kill -9``)
leaves either the previous point or the new one, never a half-written one.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import torch

from vidlab.models.checkpoint import CheckpointError, atomic_write_bytes, fsync_dir


class ResumeStore:
    def __init__(self, root: str | os.PathLike, keep: int = 2):
        self.root = Path(root)
        self.keep = max(keep, 1)

    def save(self, tag: str, model_state: dict[str, torch.Tensor], state: dict) -> Path:
        from safetensors.torch import save as st_save

        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / tag
        tmp = self.root / f".{tag}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        blob = st_save({k: v.detach().contiguous().cpu() for k, v in model_state.items()})
        atomic_write_bytes(tmp / "model.safetensors", blob)
        buf = io.BytesIO()
        torch.save({**state, "weights_sha256": hashlib.sha256(blob).hexdigest()}, buf)
        atomic_write_bytes(tmp / "state.pt", buf.getvalue())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(self.root)
        atomic_write_bytes(self.root / "LATEST", (tag + "\n").encode())
        self._prune(keep_tag=tag)
        return final

    def _prune(self, keep_tag: str) -> None:
        points = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for p in points[: -self.keep]:
            if p.name != keep_tag:
                shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(".*.tmp*"):
            shutil.rmtree(p, ignore_errors=True)

    def latest(self) -> Path | None:
        pointer = self.root / "LATEST"
        if not pointer.exists():
            return None
        point = self.root / pointer.read_text().strip()
        if not (point / "model.safetensors").exists() or not (point / "state.pt").exists():
            raise CheckpointError(f"{point}: resume point named by LATEST is incomplete")
        return point

    def load(self, point: Path) -> tuple[dict[str, torch.Tensor], dict]:
        from safetensors.torch import load as st_load

        blob = (point / "model.safetensors").read_bytes()
        state = torch.load(point / "state.pt", map_location="cpu", weights_only=True)
        if state.get("weights_sha256") != hashlib.sha256(blob).hexdigest():
            raise CheckpointError(f"{point}: weights and training state do not belong together")
        return st_load(blob), state
