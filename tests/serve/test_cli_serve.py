"""`vidlab serve` as a command: it starts, answers on loopback, stops on Ctrl-C, and
bad options are one error line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import uvicorn  # noqa: F401  (a dependency: `vidlab serve` below runs on it; missing fails, not skips)

from vidlab.apps.cli import main


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_serve_starts_answers_and_stops(tiny_checkpoint, tmp_path):
    port = free_port()
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidlab", "serve", "--port", str(port), "--checkpoint", str(tiny_checkpoint),
         "--work-dir", str(work), "--queue-size", "3", "--max-upload-mb", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while health is None:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the server did not answer within 60 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    health = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert health["model"]["arch"] == "c2d_r10_tiny"
        assert health["queue"]["capacity"] == 3 and health["limits"]["max_upload_bytes"] == 1024 * 1024
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b"vidlab" in r.read()
        assert (work / "jobs").is_dir()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out = proc.communicate(timeout=30)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode()
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}/" in out and "Traceback" not in out


@pytest.mark.parametrize("argv, message", [
    (["serve", "--checkpoint", "/no/such/model.safetensors"], "checkpoint not found"),
    (["serve", "--cartoon-weights", "/no/such/weights"], "no such file or folder"),
])
def test_serve_bad_options_are_one_error_line(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert e.value.code == 2 and len(lines) == 1 and lines[0].startswith("vidlab: error: ") and message in lines[0]
