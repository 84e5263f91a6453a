"""Fixtures of the hub tests: a loopback HTTP file server with Range support, an isolated cache, and a
tiny published checkpoint (a PySlowFast-format ``.pyth`` of ``i3d_r10_tiny``) registered as a hub entry."""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

ARCH = "i3d_r10_tiny"
FILE = "I3D_TINY_8x4_R10.pyth"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FileServer:
    """Files served at ``http://127.0.0.1:PORT/<name>``; every request is recorded."""

    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    cut_once: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before the first response is cut
    cut_each: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before every response is cut
    ranges: bool = True  # honour Range requests (False: always the whole file, 200)
    delay: float = 0.0  # seconds to wait before sending a body
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def gets(self, name: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and (name is None or r.path == f"/{name}")]


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha1(data).hexdigest()[:16] + '"'


def _handler(server: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            with server.lock:
                server.requests.append(Request("GET", self.path, dict(self.headers.items())))
            name = self.path.lstrip("/")
            data = server.files.get(name)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start, status = 0, 200
            asked = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if asked and server.ranges and (if_range is None or if_range == _etag(data)):
                m = re.fullmatch(r"bytes=(\d+)-", asked.strip())
                assert m, asked
                start = int(m.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", _etag(data))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if server.delay:
                time.sleep(server.delay)
            cut = server.cut_once.pop(name, None)
            cut = server.cut_each.get(name) if cut is None else cut
            if cut is not None:  # promise the whole body, send part of it, hang up
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server():
    state = FileServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def hub_home(tmp_path, monkeypatch) -> Path:
    """An empty ``$VIDLAB_HOME``; no mirror, no proxy for the loopback server."""
    home = tmp_path / "vidlab_home"
    monkeypatch.setenv("VIDLAB_HOME", str(home))
    monkeypatch.delenv("VIDLAB_HUB_MIRROR", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return home


@dataclass
class Source:
    """A published-style checkpoint: the file's bytes, and the model it holds with a reference output."""

    data: bytes
    model: torch.nn.Module
    inputs: torch.Tensor
    logits: torch.Tensor

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@pytest.fixture(scope="session")
def source() -> Source:
    from vidlab import models

    torch.manual_seed(17)
    model = models.build(ARCH, num_classes=400).eval()
    with torch.no_grad():  # non-trivial BN statistics, so a wrong mapping shows in the logits
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    buf = io.BytesIO()
    torch.save({"model_state": model.state_dict(), "epoch": 1}, buf)  # PySlowFast's .pyth layout
    inputs = torch.randn(2, 3, 8, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(inputs)
    return Source(buf.getvalue(), model, inputs, logits)


def _make_entry(url: str, *, name: str = f"{ARCH}.test", tag: str = "test", **fields):
    from vidlab.hub import HubEntry

    values = dict(name=name, arch=ARCH, tag=tag, dataset="random weights (tests)", source="pyslowfast", urls=(url,),
                  file_format="pyth", converter="pyslowfast", labels="kinetics400", num_classes=400,
                  licence="test data", verified=True)
    values.update(fields)
    return HubEntry(**values)


@pytest.fixture
def make_entry():
    """``make_entry(url, name=..., tag=..., **fields)``: a hub entry for the tiny checkpoint at ``url``."""
    return _make_entry


@pytest.fixture
def register():
    """``register(entry)`` adds a hub entry for one test (one of the table's own names: replaces it for the
    test, and the published entry comes back in its place afterwards)."""
    from vidlab import hub
    from vidlab.hub.table import ENTRIES

    names: list[str] = []

    def add(entry):
        hub.register_entry(entry, replace=True)
        names.append(entry.name)
        return entry

    yield add
    published = {e.name: e for e in ENTRIES}
    for n in names:
        if n in published:
            hub.register_entry(published[n], replace=True)
        else:
            hub.remove_entry(n)


@pytest.fixture
def published(server, source, register, hub_home):
    """The tiny checkpoint served by ``server``, with its full sha256 in a registered entry."""
    server.files[FILE] = source.data
    return register(_make_entry(server.url(FILE), sha256=source.sha256))
