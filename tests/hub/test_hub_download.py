"""Downloads against a loopback server: convert once, cache, resume, checksums, errors, mirrors, locks."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vidlab import hub, models
from vidlab.hub.download import checkpoint_path, downloads_dir, records_path

ARCH = "i3d_r10_tiny"  # the tiny checkpoint of tests/hub/conftest.py
FILE = "I3D_TINY_8x4_R10.pyth"


def _logits(model, x):
    with torch.no_grad():
        return model(x)


def test_download_converts_once_and_the_logits_are_the_sources(published, server, source):
    path = hub.download(published, progress=False)
    assert path == checkpoint_path(published) and path.exists()
    model = models.load(path)
    torch.testing.assert_close(_logits(model, source.inputs), source.logits, rtol=0, atol=1e-6)
    assert model.meta["labels"] == hub.label_names("kinetics400")
    assert model.meta["provenance"]["converted_from"]["sha256"] == source.sha256
    assert len(server.gets(FILE)) == 1
    mtime = path.stat().st_mtime_ns
    # later calls: from the cache, no request, no second conversion
    assert hub.download(published.name, progress=False) == path
    assert hub.load_checkpoint_path(ARCH, "test") == path
    assert len(server.requests) == 1 and path.stat().st_mtime_ns == mtime
    record = hub.read_records()[FILE]
    assert record["sha256"] == source.sha256 and record["check"] == "published sha256"


def test_build_with_weights_tag_path_and_new_head(published, server, source):
    by_tag = models.build(ARCH, weights="test")
    torch.testing.assert_close(_logits(by_tag, source.inputs), source.logits, rtol=0, atol=1e-6)
    assert not by_tag.training and by_tag.meta["arch"] == ARCH
    by_path = models.build(ARCH, weights=checkpoint_path(published))
    torch.testing.assert_close(_logits(by_path, source.inputs), source.logits, rtol=0, atol=1e-6)
    five = models.build(ARCH, num_classes=5, weights="DEFAULT", dropout=0.3)  # DEFAULT: the arch's first entry
    assert five.num_classes == 5 and _logits(five, source.inputs).shape == (2, 5)
    torch.testing.assert_close(five.forward_features(source.inputs), source.model.forward_features(source.inputs))
    assert len(server.gets()) == 1
    with pytest.raises(hub.HubError, match="its tags: DEFAULT, test"):
        models.build(ARCH, weights="nope")
    with pytest.raises(models.CheckpointError, match="not c2d_r10_tiny"):
        models.build("c2d_r10_tiny", weights=str(checkpoint_path(published)))


def test_a_transfer_cut_off_resumes_with_a_range_request(published, server, source):
    server.cut_once[FILE] = len(source.data) // 3
    path = hub.download(published, progress=False)
    first, second = server.gets(FILE)
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={len(source.data) // 3}-"
    assert second.headers["If-Range"].startswith('"')
    assert (downloads_dir() / FILE).read_bytes() == source.data
    assert not (downloads_dir() / f"{FILE}.part").exists()
    torch.testing.assert_close(_logits(models.load(path), source.inputs), source.logits, rtol=0, atol=1e-6)


def test_a_partial_file_left_by_a_killed_process_is_resumed(published, server, source):
    downloads_dir().mkdir(parents=True)
    (downloads_dir() / f"{FILE}.part").write_bytes(source.data[:1000])
    hub.download(published, progress=False)
    (req,) = server.gets(FILE)
    assert req.headers["Range"] == "bytes=1000-"
    assert (downloads_dir() / FILE).read_bytes() == source.data


def test_a_transfer_that_keeps_breaking_gives_up_and_the_next_call_resumes(published, server, source):
    server.cut_each[FILE] = 1000
    with pytest.raises(hub.HubError) as e:
        hub.download(published, progress=False)
    _one_line(str(e.value))
    assert "broke off 5 times" in str(e.value) and "the next attempt resumes it" in str(e.value)
    part = downloads_dir() / f"{FILE}.part"
    assert part.read_bytes() == source.data[:5000]
    server.cut_each.clear()
    hub.download(published, progress=False)
    assert server.gets(FILE)[-1].headers["Range"] == "bytes=5000-"
    assert (downloads_dir() / FILE).read_bytes() == source.data and not part.exists()


def test_a_whole_partial_file_is_renamed_after_a_416(published, server, source):
    downloads_dir().mkdir(parents=True)
    (downloads_dir() / f"{FILE}.part").write_bytes(source.data)  # killed between the last byte and the rename
    hub.download(published, progress=False)
    (req,) = server.gets(FILE)
    assert req.headers["Range"] == f"bytes={len(source.data)}-"
    assert (downloads_dir() / FILE).read_bytes() == source.data


def test_a_server_without_ranges_sends_the_whole_file_again(published, server, source):
    server.ranges = False
    server.cut_once[FILE] = 5000
    hub.download(published, to=None, progress=False)
    assert [r.headers.get("Range") for r in server.gets(FILE)] == [None, "bytes=5000-"]
    assert (downloads_dir() / FILE).read_bytes() == source.data


def test_a_corrupt_file_is_refused_and_nothing_is_cached(server, source, register, hub_home, make_entry):
    bad = bytearray(source.data)
    bad[len(bad) // 2] ^= 0xFF
    server.files[FILE] = bytes(bad)
    entry = register(make_entry(server.url(FILE), sha256=source.sha256))
    with pytest.raises(hub.ChecksumError) as e:
        hub.download(entry, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and FILE in msg and "does not match the published sha256" in msg
    assert not checkpoint_path(entry).exists()
    assert not [p for p in downloads_dir().iterdir() if not p.name.endswith(".lock")]
    assert FILE not in hub.read_records()


def test_a_wrong_torchvision_hash_prefix_is_refused(server, source, register, hub_home, make_entry):
    server.files[FILE] = source.data
    good = register(make_entry(server.url(FILE), sha256_prefix=source.sha256[:8]))
    assert hub.download(good, to=hub_home / "out", progress=False).read_bytes() == source.data
    bad = register(make_entry(server.url(FILE), name=f"{ARCH}.bad", tag="bad", sha256_prefix="00000000"))
    with pytest.raises(hub.ChecksumError, match="published sha256 prefix 00000000"):
        hub.download(bad, progress=False)


def test_without_a_published_hash_the_first_download_is_recorded_and_holds(server, source, register, hub_home,
                                                                           capsys, make_entry):
    server.files[FILE] = source.data
    entry = register(make_entry(server.url(FILE)))
    hub.download(entry, progress=False)
    assert f"recorded its sha256 {source.sha256}" in capsys.readouterr().err
    record = json.loads(records_path().read_text())[FILE]
    assert record["sha256"] == source.sha256 and record["check"] == "recorded at first download"
    # the file changes upstream; a fresh download must match the recorded digest
    server.files[FILE] = source.data + b"\0"
    (downloads_dir() / FILE).unlink()
    checkpoint_path(entry).unlink()
    with pytest.raises(hub.ChecksumError, match="recorded at its first download"):
        hub.download(entry, progress=False)


def test_a_file_put_in_the_cache_by_hand_is_checked_and_used(server, source, register, hub_home, make_entry):
    entry = register(make_entry(server.url(FILE), sha256=source.sha256))
    downloads_dir().mkdir(parents=True)
    (downloads_dir() / FILE).write_bytes(source.data[:-1])
    with pytest.raises(hub.ChecksumError):
        hub.download(entry, progress=False)
    assert not (downloads_dir() / FILE).exists()  # the cache keeps only checked files
    (downloads_dir() / FILE).write_bytes(source.data)
    hub.download(entry, progress=False)
    assert server.requests == []


def _one_line(msg: str) -> None:
    assert "\n" not in msg and msg.strip() == msg


def test_404_is_one_line_naming_the_url_the_file_and_where_to_put_it(server, register, hub_home, make_entry):
    entry = register(make_entry(server.url("MISSING.pyth")))
    with pytest.raises(hub.HubError) as e:
        hub.download(entry, progress=False)
    msg = str(e.value)
    _one_line(msg)
    assert "HTTP 404" in msg and server.url("MISSING.pyth") in msg
    assert str(downloads_dir()) in msg and "VIDLAB_HUB_MIRROR" in msg and "--to DIR" in msg


def _refused_url(name: str) -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def test_a_refused_connection_is_one_line(register, hub_home, make_entry):
    entry = register(make_entry(_refused_url(FILE)))
    with pytest.raises(hub.HubError) as e:
        hub.download(entry, progress=False)
    msg = str(e.value)
    _one_line(msg)
    assert "refused" in msg.lower() and FILE in msg and "VIDLAB_HUB_MIRROR" in msg
    assert not checkpoint_path(entry).exists()


def test_a_mirror_folder_serves_the_file_without_any_request(server, source, register, hub_home, tmp_path,
                                                             monkeypatch, make_entry):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    entry = register(make_entry(server.url(FILE), sha256=source.sha256))
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", str(mirror))
    with pytest.raises(hub.HubError) as e:
        hub.download(entry, progress=False)
    _one_line(str(e.value))
    assert f"{FILE} is not in the mirror folder {mirror}" in str(e.value)
    (mirror / FILE).write_bytes(source.data)
    path = hub.download(entry, progress=False)
    torch.testing.assert_close(_logits(models.load(path), source.inputs), source.logits, rtol=0, atol=1e-6)
    assert server.requests == []


def test_a_mirror_base_url_replaces_the_published_host(server, source, register, hub_home, monkeypatch, make_entry):
    server.files[f"mirror/{FILE}"] = source.data
    entry = register(make_entry(_refused_url(FILE), sha256=source.sha256))
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", server.url("mirror") + "/")
    hub.download(entry, progress=False)
    assert [r.path for r in server.gets()] == [f"/mirror/{FILE}"]
    with pytest.raises(hub.HubError, match="from the mirror"):
        hub.download(register(make_entry(_refused_url("OTHER.pyth"), name=f"{ARCH}.other", tag="other")),
                     progress=False)


def test_download_to_a_folder_writes_what_a_mirror_needs(published, server, source, hub_home, tmp_path,
                                                         monkeypatch):
    out = tmp_path / "for_the_mirror"
    assert hub.download(published, to=out, progress=False) == out / FILE
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == [FILE]
    assert (out / FILE).read_bytes() == source.data
    assert not checkpoint_path(published).exists()  # --to only fetches
    # the folder is a mirror for a machine without internet
    monkeypatch.setenv("VIDLAB_HOME", str(tmp_path / "offline_home"))
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", str(out))
    before = len(server.requests)
    path = hub.download(published, progress=False)
    assert path.exists() and len(server.requests) == before


def test_files_of_one_published_name_are_cached_apart_with_their_own_classes_and_labels(
        server, register, hub_home, tmp_path, monkeypatch, make_entry):
    # PyTorchVideo publishes SLOW_8x8_R50.pyth in kinetics/, ssv2/ and charades/: the later entries are cached
    # and mirrored under their local_name, and get their own label set and classifier size
    torch.manual_seed(5)
    for folder, n in (("kinetics", 400), ("charades", 157)):
        buf = io.BytesIO()
        torch.save({"model_state": models.build(ARCH, num_classes=n).state_dict()}, buf)
        server.files[f"{folder}/{FILE}"] = buf.getvalue()
    k400 = register(make_entry(server.url(f"kinetics/{FILE}")))
    charades = register(make_entry(server.url(f"charades/{FILE}"), name=f"{ARCH}.charades", tag="charades",
                                   labels="charades", num_classes=157, local_name=f"charades_{FILE}"))
    assert models.load(hub.download(k400, progress=False)).num_classes == 400
    model = models.load(hub.download(charades, progress=False))
    assert model.num_classes == 157 and model.meta["labels"] == hub.label_names("charades")
    assert sorted(p.name for p in downloads_dir().glob("*.pyth")) == sorted([FILE, f"charades_{FILE}"])
    # a mirror folder is searched for the entry's own name only (the published name may be the other file)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / FILE).write_bytes(server.files[f"kinetics/{FILE}"])
    monkeypatch.setenv("VIDLAB_HOME", str(tmp_path / "offline_home"))
    monkeypatch.setenv("VIDLAB_HUB_MIRROR", str(mirror))
    with pytest.raises(hub.HubError, match=f"charades_{FILE} is not in the mirror folder"):
        hub.download(charades, progress=False)
    (mirror / f"charades_{FILE}").write_bytes(server.files[f"charades/{FILE}"])
    before = len(server.requests)
    assert models.load(hub.download(charades, progress=False)).num_classes == 157
    assert len(server.requests) == before


def test_the_entry_preprocessing_and_name_reach_the_sidecar(published, server, register, make_entry, real_dir):
    # an entry that states nothing: the architecture's preprocessing, as before, and the entry's name
    meta = models.read_meta(hub.download(published, progress=False))
    assert meta["hub_entry"] == published.name
    assert meta["preprocessing"] == models.get_spec(ARCH).preprocessing() and "multi_label" not in meta["preprocessing"]
    # the Charades entries' {"fps": 24, "multi_label": True}, merged over the spec's (whose mean/std stay)
    stated = hub.get_entry("slow_r50_8x8.charades").preprocessing
    assert stated == {"fps": 24, "multi_label": True}
    torch.manual_seed(6)
    buf = io.BytesIO()
    torch.save({"model_state": models.build(ARCH, num_classes=157).state_dict()}, buf)
    server.files[f"charades/{FILE}"] = buf.getvalue()
    charades = register(make_entry(server.url(f"charades/{FILE}"), name=f"{ARCH}.charades", tag="charades",
                                   labels="charades", num_classes=157, local_name=f"charades_{FILE}",
                                   preprocessing=dict(stated)))
    assert charades.resolved_preprocessing()["multi_label"] is True
    model = models.load(hub.download(charades, progress=False))
    pre = model.meta["preprocessing"]
    # the stated fps is the rate clips are resampled to (classify, stream, eval)
    assert pre == {**models.get_spec(ARCH).preprocessing(), "fps": 24, "target_fps": 24, "multi_label": True}
    assert pre == charades.resolved_preprocessing()
    assert (pre["mean"], pre["std"]) == ([0.5] * 3, [0.25] * 3)  # the tiny test architecture's own
    assert model.meta["hub_entry"] == f"{ARCH}.charades" and models.is_multi_label(model.meta)
    # a new classifier on its features is no longer the entry's (nor known to be multi-label)
    five = models.build(ARCH, num_classes=5, weights="charades")
    assert "hub_entry" not in five.meta and not models.is_multi_label(five.meta) and five.meta["preprocessing"]["fps"] == 24
    # and classify scores it with sigmoids (157 independent classes)
    from vidlab.engine.inference import classify_video

    res = classify_video(model, str(real_dir / "asl_gestures/again.mkv"), topk=157)
    assert res["activation"] == "sigmoid" and len(res["top"]) == 157
    assert sum(t["score"] for t in res["top"]) > 2.0  # sigmoids, not a distribution over the classes
    # an entry that states its own mean/std (torchvision's) overrides the spec's
    mine = register(make_entry(server.url(FILE), name=f"{ARCH}.norm", tag="norm", sha256=published.sha256,
                               preprocessing={"mean": [0.4, 0.4, 0.4], "std": [0.2, 0.2, 0.2], "fps": 15}))
    pre = models.read_meta(hub.download(mine, progress=False))["preprocessing"]
    assert (pre["mean"], pre["std"], pre["fps"]) == ([0.4] * 3, [0.2] * 3, 15) and "multi_label" not in pre


_WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from vidlab import hub
    fields = json.loads(sys.argv[1])
    fields["urls"] = tuple(fields["urls"])
    hub.register_entry(hub.HubEntry(**fields))
    ready = Path(sys.argv[2])
    (ready / str(os.getpid())).touch()
    while len(list(ready.iterdir())) < 2:
        time.sleep(0.01)
    print(hub.download(fields["name"], progress=False))
""")


@pytest.mark.timeout(240)
def test_two_processes_download_and_convert_once(published, server, hub_home, tmp_path):
    server.delay = 1.0  # the first transfer is still running when the second process asks
    ready = tmp_path / "ready"
    ready.mkdir()
    fields = {k: v for k, v in published.to_dict().items() if k != "filename"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(fields), str(ready)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=200) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert {Path(out.strip()) for out, _ in outs} == {checkpoint_path(published)}
    assert len(server.gets(FILE)) == 1
    converted = [err for _, err in outs if "converting" in err]
    assert len(converted) == 1


def test_no_connection_at_import_and_build_finds_the_hub_by_itself(tmp_path):
    """Importing opens no connection; models.build(weights=TAG) imports vidlab.hub (models/ does not
    import it) and, with an empty mirror folder, fails with the mirror's one line, offline."""
    code = textwrap.dedent("""
        import socket, sys
        def refuse(*a, **k):
            raise AssertionError("network touched")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from vidlab import models
        assert "vidlab.hub" not in sys.modules
        try:
            models.build("r3d_18", weights="DEFAULT")
        except Exception as e:
            print(type(e).__name__, e)
        import vidlab.hub, vidlab.apps.cli
        print(len(vidlab.hub.list_entries()))
    """)
    mirror = tmp_path / "empty_mirror"
    mirror.mkdir()
    env = {**os.environ, "VIDLAB_HOME": str(tmp_path), "VIDLAB_HUB_MIRROR": str(mirror),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    error, count = res.stdout.strip().splitlines()
    assert error.startswith("HubError r3d_18.kinetics400: r3d_18-b3b3357e.pth is not in the mirror folder")
    assert int(count) >= 30
