"""Fixtures for the web app and streaming tests: a tiny checkpoint, a running server."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import torch

LABELS = ["boxing", "handwaving", "jogging", "running", "walking"]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """An untrained ``c2d_r10_tiny`` with five KTH label names (no training: these tests
    check plumbing and numbers against the same model run directly). The head's weights
    are scaled up so the scores differ clearly between classes and windows (an untrained
    head gives near-uniform scores, whose order would hang on rounding)."""
    from vidlab import models

    torch.manual_seed(0)
    model = models.build("c2d_r10_tiny", num_classes=len(LABELS))
    with torch.no_grad():
        model.head.projection.weight.mul_(200.0)
    path = tmp_path_factory.mktemp("serve_ckpt") / "tiny"
    return models.save(model, path, labels=LABELS, preprocessing=models.get_spec("c2d_r10_tiny").preprocessing())


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from vidlab import models

    return models.load(tiny_checkpoint)


class LiveServer:
    """uvicorn serving an app on a free loopback port, in a thread."""

    def __init__(self, app):
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def live_server():
    return LiveServer
