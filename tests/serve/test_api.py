"""The web app's JSON API: results equal the Python API's, limits answer with the
right status and a message, and nothing the client sends becomes a path."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient  # fastapi and httpx are dependencies (httpx: dev extra)
from PIL import Image

from vidlab.serve import ServeConfig, create_app
from vidlab.serve.jobs import JobManager

GOLF = "hmdb51/videos/golf/Golf_Tips_-_Hit_The_Driver_300_Yards_golf_f_nm_np1_fr_med_0.avi"


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def small_photo(seed: int = 0, size=(24, 32)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)


def client(tmp_path, model=None, **kw) -> TestClient:
    cfg = ServeConfig(work_dir=tmp_path / "work", **kw)
    return TestClient(create_app(cfg, model=model))


def stored_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "work").rglob("*") if p.is_file()]


# --------------------------------------------------------------------------- schema
def test_openapi_schema_describes_the_json_endpoints(tmp_path):
    with client(tmp_path) as c:
        schema = c.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/classify", "/api/cartoonize", "/api/health"} <= set(paths)
    assert "get" in paths["/api/health"] and "post" in paths["/api/classify"] and "post" in paths["/api/cartoonize"]
    for ep in ("/api/classify", "/api/cartoonize"):
        post = paths[ep]["post"]
        body = post["requestBody"]["content"]
        assert "multipart/form-data" in body
        ref = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
        file_schema = schema["components"]["schemas"][ref]["properties"]["file"]
        assert file_schema.get("format") == "binary" or file_schema.get("contentMediaType") == "application/octet-stream"
        assert {"200", "202", "413", "415", "422", "503"} <= set(post["responses"])
    comps = schema["components"]["schemas"]
    assert {"top", "windows", "timeline", "json_url"} <= set(comps["ClassifyResult"]["properties"])
    assert {"image_url", "style"} <= set(comps["CartoonResult"]["properties"])
    assert {"model", "cartoon", "queue", "limits"} <= set(comps["Health"]["properties"])


def test_health_reports_model_styles_and_limits(tmp_path, tiny_model):
    with client(tmp_path, tiny_model, max_upload_bytes=12345, queue_size=3) as c:
        h = c.get("/api/health").json()
    assert h["status"] == "ok"
    assert h["model"] == {"arch": "c2d_r10_tiny", "num_classes": 5}
    assert h["labels"][0] == "boxing"
    assert h["cartoon"]["styles"][0] == "classic"
    assert h["limits"]["max_upload_bytes"] == 12345
    assert h["queue"]["capacity"] == 3 and h["queue"]["queued"] == 0
    assert "video/mp4" in h["limits"]["video_types"] and "image/jpeg" in h["limits"]["image_types"]


def test_page_and_static_files_are_served(tmp_path):
    with client(tmp_path) as c:
        page = c.get("/")
        assert page.status_code == 200 and 'id="video-file"' in page.text and 'id="photo-file"' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for name in ("app.js", "style.css"):
            assert c.get(f"/static/{name}").status_code == 200
        assert c.get("/static/../app.py").status_code == 404


# --------------------------------------------------------------------------- results
def test_classify_equals_the_python_api_and_serves_its_files(tmp_path, tiny_model, real_dir):
    from vidlab.engine.inference import classify_video
    from vidlab.io import probe_video

    video = real_dir / GOLF
    with client(tmp_path, tiny_model) as c:
        r = c.post("/api/classify?wait=true&topk=3", files={"file": ("golf.avi", video.read_bytes(), "video/x-msvideo")})
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["state"] == "done" and job["progress"] == 1.0 and job["kind"] == "classify"
        res = job["result"]
        ref = classify_video(tiny_model, str(video), topk=3)
        assert [t["label"] for t in res["top"]] == [t["label"] for t in ref["top"]]
        np.testing.assert_allclose([t["score"] for t in res["top"]], [t["score"] for t in ref["top"]], atol=2e-6)
        assert len(res["windows"]) == len(ref["windows"]) >= 2
        for w, rw in zip(res["windows"], ref["windows"]):
            assert (w["start_sec"], w["end_sec"]) == (rw["start_sec"], rw["end_sec"])
            assert [t["label"] for t in w["top"]] == [t["label"] for t in rw["top"]]
        # timeline: one series per top class, one score per window, equal to the window's score
        tl = res["timeline"]
        assert [s["label"] for s in tl["series"]] == [t["label"] for t in res["top"]]
        assert tl["times"] == [round((w["start_sec"] + w["end_sec"]) / 2, 3) for w in res["windows"]]
        first = tl["series"][0]
        for w, score in zip(ref["windows"], first["scores"]):
            by_label = {t["label"]: t["score"] for t in w["top"]}
            if first["label"] in by_label:
                assert score == pytest.approx(by_label[first["label"]], abs=2e-6)
        # the JSON download is the result, as an attachment
        dl = c.get(res["json_url"])
        assert dl.status_code == 200 and "attachment" in dl.headers["content-disposition"]
        assert json.loads(dl.content)["top"] == res["top"]
        # the annotated video has every input frame
        v = c.get(res["video_url"])
        assert v.status_code == 200 and v.headers["content-type"] == "video/mp4"
        out = tmp_path / "annotated.mp4"
        out.write_bytes(v.content)
        assert probe_video(out).num_frames == probe_video(video).num_frames
        # the Grad-CAM video of the top class, on the window where it scores highest
        h = res["heatmap"]
        assert h["label"] == res["top"][0]["label"] and res.get("heatmap_error") is None
        best = max(res["windows"], key=lambda w: next((t["score"] for t in w["top"] if t["label"] == h["label"]), 0))
        assert h["start_sec"] == pytest.approx(best["start_sec"], abs=1e-3)
        hv = c.get(res["heatmap_url"])
        assert hv.status_code == 200 and hv.headers["content-type"] == "video/mp4"
        (tmp_path / "heat.mp4").write_bytes(hv.content)
        assert probe_video(tmp_path / "heat.mp4").num_frames >= 2
        # polling the finished job gives the same result
        assert c.get(job["status_url"]).json()["result"] == res


def test_classify_without_wait_is_queued_then_polled(tmp_path, tiny_model, real_dir):
    with client(tmp_path, tiny_model) as c:
        r = c.post("/api/classify?annotate=false&heatmap=false", files={"file": ("g.avi", (real_dir / GOLF).read_bytes(),
                                                                     "video/x-msvideo")})
        assert r.status_code == 202 and r.headers["location"] == r.json()["status_url"]
        url = r.json()["status_url"]
        deadline = time.monotonic() + 30
        seen = []
        while (job := c.get(url).json())["state"] in ("queued", "running"):
            assert job["progress"] == 0.0 or job["state"] == "running", job  # a queued job has not started
            seen.append(job["progress"])
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert seen == sorted(seen) and all(0.0 <= p < 1.0 for p in seen), seen  # it only moves forward
        assert job["state"] == "done" and job["progress"] == 1.0 and job["result"]["video_url"] is None
        assert job["result"]["heatmap_url"] is None and job["result"]["heatmap"] is None


def test_cartoonize_equals_the_python_api(tmp_path):
    from vidlab.cartoon import cartoonize_image

    rgb = small_photo(1, (40, 56))
    with client(tmp_path) as c:
        r = c.post("/api/cartoonize?wait=true", files={"file": ("p.png", png_bytes(rgb), "image/png")},
                   data={"style": "classic"})
        assert r.status_code == 200, r.text
        res = r.json()["result"]
        assert res["input_size"] == [56, 40] and res["output_size"] == [56, 40]
        got = np.asarray(Image.open(io.BytesIO(c.get(res["image_url"]).content)).convert("RGB"))
        np.testing.assert_array_equal(got, cartoonize_image(rgb, style="classic", load_size=450))
        orig = c.get(res["original_url"])
        assert orig.headers["content-type"] == "image/png" and orig.content == png_bytes(rgb)


def test_classify_without_a_model_is_503_with_the_reason(tmp_path):
    with client(tmp_path) as c:
        r = c.post("/api/classify", files={"file": ("a.mp4", b"x", "video/mp4")})
    assert r.status_code == 503 and "--checkpoint" in r.json()["detail"]


# --------------------------------------------------------------------------- limits
def test_oversized_upload_is_413_and_nothing_is_kept(tmp_path, tiny_model):
    with client(tmp_path, tiny_model, max_upload_bytes=20_000) as c:
        big = b"\0" * 200_000
        r = c.post("/api/classify", files={"file": ("big.mp4", big, "video/mp4")})
        assert r.status_code == 413
        assert "limit" in r.json()["detail"]
        r = c.post("/api/cartoonize", files={"file": ("big.png", big, "image/png")})
        assert r.status_code == 413
        # just under the body limit but over the file limit: caught while copying
        r = c.post("/api/cartoonize", files={"file": ("big.png", b"\0" * 30_000, "image/png")})
        assert r.status_code == 413
        # no Content-Length (chunked): refused once the bytes received pass the limit
        def body():
            yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            yield b"Content-Type: image/png\r\n\r\n"
            for _ in range(10):
                yield b"\0" * 10_000
            yield b"\r\n--xyz--\r\n"

        r = c.post("/api/cartoonize", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"})
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        assert stored_files(tmp_path) == []
        assert c.get("/api/health").json()["queue"]["queued"] == 0


@pytest.mark.parametrize("endpoint, name, ctype", [
    ("/api/classify", "notes.txt", "text/plain"),
    ("/api/classify", "photo.png", "image/png"),
    ("/api/classify", "script.sh", "application/octet-stream"),
    ("/api/classify", "page.html", "text/html"),
    ("/api/cartoonize", "clip.mp4", "video/mp4"),
    ("/api/cartoonize", "doc.pdf", "application/pdf"),
    ("/api/cartoonize", "x.svg", "image/svg+xml"),
])
def test_wrong_media_type_is_415(tmp_path, tiny_model, endpoint, name, ctype):
    with client(tmp_path, tiny_model) as c:
        r = c.post(endpoint, files={"file": (name, b"some bytes", ctype)})
    assert r.status_code == 415
    assert "accepted" in r.json()["detail"]
    assert stored_files(tmp_path) == []


def test_generic_type_is_judged_by_the_suffix(tmp_path, tiny_model, real_dir):
    with client(tmp_path, tiny_model) as c:
        r = c.post("/api/classify?wait=true&annotate=false",
                   files={"file": ("golf.AVI", (real_dir / GOLF).read_bytes(), "application/octet-stream")})
    assert r.status_code == 200, r.text


def test_corrupt_video_is_422_with_a_message(tmp_path, tiny_model, real_dir):
    rng = np.random.default_rng(0)
    with client(tmp_path, tiny_model) as c:
        r = c.post("/api/classify?wait=true", files={"file": ("noise.mp4", rng.bytes(50_000), "video/mp4")})
        assert r.status_code == 422
        msg = r.json()["detail"]
        assert msg.startswith("noise.mp4: ") and len(msg) > len("noise.mp4: ") + 5
        assert str(tmp_path) not in msg  # the server's paths stay private
        # an mp4 cut in half loses its index (the moov box is written last)
        from vidlab.io import write_video

        whole = write_video(tmp_path / "whole.mp4", small_photo(0, (10, 32, 32)), fps=10).read_bytes()
        r = c.post("/api/classify?wait=true", files={"file": ("cut.mp4", whole[: len(whole) // 2], "video/mp4")})
        assert r.status_code == 422 and r.json()["detail"].startswith("cut.mp4: ")
        r = c.post("/api/classify", files={"file": ("empty.mp4", b"", "video/mp4")})
        assert r.status_code == 422 and "empty" in r.json()["detail"]
        r = c.post("/api/cartoonize", files={"file": ("bad.jpg", b"\xff\xd8\xff" + rng.bytes(2000), "image/jpeg")})
        assert r.status_code == 422 and r.json()["detail"].startswith("bad.jpg: ")
        r = c.post("/api/cartoonize", files={"file": ("p.png", png_bytes(small_photo()), "image/png")},
                   data={"style": "../../etc/passwd"})
        assert r.status_code == 422 and "unknown style" in r.json()["detail"]
    assert not [p for p in stored_files(tmp_path) if p.name.startswith("input")]


@pytest.mark.parametrize("name", [
    "../../../escape.png", "..\\..\\escape.png", "/tmp/escape.png", "....//escape.png", "%2e%2e%2fescape.png",
    "escape.png\x00.txt", "a/b/../../../../escape.png",
])
def test_path_traversal_file_names_have_no_effect(tmp_path, monkeypatch, name):
    work = tmp_path / "srv" / "deep"
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(ServeConfig(work_dir=work))) as c:
        r = c.post("/api/cartoonize?wait=true", files={"file": (name, png_bytes(small_photo()), "image/png")})
        assert r.status_code == 200, r.text
        job = r.json()
        assert "/" not in job["name"] and "\\" not in job["name"] and "\x00" not in job["name"]
        files = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file())
    # everything the job wrote is in its own folder, named by the server
    assert files == [f"jobs/{job['id']}/cartoon.png", f"jobs/{job['id']}/input.png"]
    assert not [p for p in tmp_path.rglob("*escape*")]
    assert not Path("/tmp/escape.png").exists()


def test_job_ids_are_checked(tmp_path):
    with client(tmp_path) as c:
        for bad in ("..%2F..%2Fetc%2Fpasswd", "0" * 31, "g" * 32, "../jobs"):
            assert c.get(f"/api/jobs/{bad}").status_code == 404
            assert c.get(f"/api/jobs/{bad}/image").status_code == 404
        assert c.get("/api/jobs/" + "0" * 32).status_code == 404


def _blocking_cartoon(release: threading.Event, started: threading.Event | None = None):
    def fn(rgb, **kw):
        if started is not None:
            started.set()
        release.wait(20)
        return rgb

    return fn


def test_full_queue_is_503_and_accepted_jobs_all_finish(tmp_path):
    release, started = threading.Event(), threading.Event()
    cfg = ServeConfig(work_dir=tmp_path / "work", queue_size=2, workers=1)
    app = create_app(cfg, cartoonizer=_blocking_cartoon(release, started), cartoon_styles=lambda weights_dir=None: [])
    photo = png_bytes(small_photo())
    with TestClient(app) as c:
        ids = [c.post("/api/cartoonize", files={"file": ("p.png", photo, "image/png")}).json()["id"]]
        assert started.wait(10)  # the first job is running: the queue is empty again
        codes = [c.post("/api/cartoonize", files={"file": ("p.png", photo, "image/png")}) for _ in range(4)]
        assert [r.status_code for r in codes] == [202, 202, 503, 503]
        assert codes[2].headers["retry-after"] and "queue is full" in codes[2].json()["detail"]
        assert [c.get(f"/api/jobs/{r.json()['id']}").json()["queue_position"] for r in codes[:2]] == [1, 2]
        ids += [r.json()["id"] for r in codes[:2]]
        release.set()
        deadline = time.monotonic() + 20
        while any(c.get(f"/api/jobs/{i}").json()["state"] != "done" for i in ids):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert c.get("/api/health").json()["queue"]["completed"] == 3
    # refused uploads left nothing behind
    assert len(list((tmp_path / "work" / "jobs").iterdir())) == 3


def test_job_past_its_deadline_is_504(tmp_path):
    release = threading.Event()  # never set: the cartoonizer blocks until its own 20 s wait... cut short below

    def slow(rgb, **kw):
        release.wait(1.0)
        return rgb

    cfg = ServeConfig(work_dir=tmp_path / "work", job_timeout=0.3)
    app = create_app(cfg, cartoonizer=slow, cartoon_styles=lambda weights_dir=None: [])
    with TestClient(app) as c:
        r = c.post("/api/cartoonize?wait=true", files={"file": ("p.png", png_bytes(small_photo()), "image/png")})
        assert r.status_code == 504 and "timed out" in r.json()["detail"]


def test_retention_sweep_deletes_finished_jobs(tmp_path):
    m = JobManager(tmp_path / "jobs", retention=10.0)
    m.start()
    try:
        job = m.new("cartoonize")
        (job.dir / "input.png").write_bytes(b"x")
        m.submit(job, lambda j: {"ok": True})
        assert job.future.result(10).state == "done"
        running = m.new("classify")  # not finished: never swept
        stray = tmp_path / "jobs" / "leftover"
        stray.mkdir()
        assert m.sweep(now=time.time() + 5) == 0
        assert m.sweep(now=time.time() + 3600) == 2  # the finished job and the stray folder
        assert m.get(job.id) is None and not job.dir.exists() and not stray.exists()
        assert m.get(running.id) is running and running.dir.exists()
    finally:
        m.stop()


def test_work_dir_is_private_and_removed_at_shutdown(tiny_model):
    app = create_app(ServeConfig(), model=tiny_model)
    with TestClient(app) as c:
        root = app.state.work_dir
        assert root.is_dir() and (root.stat().st_mode & 0o777) == 0o700
        c.get("/api/health")
    assert not root.exists()


# --------------------------------------------------------------------------- concurrency
def test_fifty_concurrent_requests_all_complete(tmp_path, live_server):
    """50 small uploads at once on loopback (plus 50 health checks): every one answers
    200 and every cartoon equals the Python API's for its own photo."""
    import httpx

    from vidlab.cartoon import cartoonize_image

    # load_size 0: the classic filter runs at the photos' own 16x20 (450 would upscale them first)
    cfg = ServeConfig(work_dir=tmp_path / "work", queue_size=64, workers=2, cartoon_load_size=0)
    photos = [small_photo(i, (16, 20)) for i in range(50)]
    with live_server(create_app(cfg)) as srv:
        async def one(client, i):
            r = await client.post("/api/cartoonize?wait=true", files={"file": (f"{i}.png", png_bytes(photos[i]),
                                                                               "image/png")})
            assert r.status_code == 200, r.text
            img = await client.get(r.json()["result"]["image_url"])
            return r.json()["id"], np.asarray(Image.open(io.BytesIO(img.content)).convert("RGB"))

        async def main():
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(base_url=srv.url, timeout=60, limits=limits) as client:
                jobs = [one(client, i) for i in range(50)]
                checks = [client.get("/api/health") for _ in range(50)]
                return await asyncio.wait_for(asyncio.gather(*jobs, *checks), timeout=120)

        out = asyncio.run(main())
    results, health = out[:50], out[50:]
    assert all(h.status_code == 200 for h in health)
    assert len({job_id for job_id, _ in results}) == 50
    for (_, got), photo in zip(results, photos):
        np.testing.assert_array_equal(got, cartoonize_image(photo, style="classic", load_size=0))
