"""End to end in headless Chromium: upload a real clip and a photo on the page,
wait for the results, check the label list, the timeline and the cartoon, and
save a screenshot.

Needs Debian's chromium and the playwright package (``scripts/install_browser.sh``
installs both). Without them the test skips with the reason, unless
``VIDLAB_REQUIRE_BROWSER=1`` (set by CI once the install succeeded), where a
missing browser is a failure. The screenshot goes to ``$VIDLAB_TEST_ARTIFACTS``
(default: pytest's temporary folder) and its path is printed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vidlab.serve import ServeConfig, create_app

CLIP = "ucf101/videos/Basketball/v_Basketball_g01_c01.avi"  # 141 frames, 320x240, 29.97 fps
PHOTO = "cartoongan_pairs/input/4--24.jpg"  # 800x600 RGB
CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")


def _unavailable(reason: str):
    if os.environ.get("VIDLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"VIDLAB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def find_chromium() -> str | None:
    env = os.environ.get("VIDLAB_CHROMIUM")
    for c in ([env] if env else []) + list(CHROMIUM_PATHS) + [shutil.which("chromium") or ""]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (run scripts/install_browser.sh)")
    exe = find_chromium()
    if exe is None:
        _unavailable("no chromium binary (run scripts/install_browser.sh, or set VIDLAB_CHROMIUM)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=exe, headless=True,
                                  args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        except Exception as e:  # noqa: BLE001  (the reason is what matters here)
            _unavailable(f"chromium at {exe} does not start: {str(e).splitlines()[0]}")
        yield b
        b.close()


def artifact_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("VIDLAB_TEST_ARTIFACTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_page_classifies_a_clip_and_cartoonizes_a_photo(browser, tiny_model, real_dir, tmp_path, live_server,
                                                        capsys, request):
    clip, photo = real_dir / CLIP, real_dir / PHOTO
    cfg = ServeConfig(work_dir=tmp_path / "work")
    errors: list[str] = []
    with live_server(create_app(cfg, model=tiny_model)) as srv:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/")
        page.wait_for_function("document.getElementById('service').textContent.includes('c2d_r10_tiny')",
                               timeout=20_000)

        page.set_input_files("#video-file", str(clip))
        page.click("#video-go")
        page.set_input_files("#photo-file", str(photo))
        page.select_option("#style", "classic")
        page.click("#photo-go")

        page.wait_for_selector("#video-result:not([hidden])", timeout=120_000)
        page.wait_for_selector("#photo-result:not([hidden])", timeout=120_000)
        assert page.is_hidden("#video-error") and page.is_hidden("#photo-error")

        # the label list: top-5 of the model's classes, scores in percent
        labels = page.locator("#labels li .name").all_inner_texts()
        assert len(labels) == 5 and set(labels) == set(tiny_model.meta["labels"])
        assert all(t.endswith("%") for t in page.locator("#labels li .score").all_inner_texts())
        # the timeline: one line per top class
        assert page.locator("#timeline svg polyline").count() == 5
        assert page.get_attribute("#download-json", "href").endswith("/result.json")
        # the Grad-CAM video beside the annotated one, captioned with the class it explains
        assert page.is_visible("#heatmap-box") and page.get_attribute("#heatmap", "src").endswith("/heatmap")
        assert page.locator("#heatmap-caption").inner_text().startswith(f'Grad-CAM for "{labels[0]}"')
        # the cartoon and the original are decoded images of the photo's size
        page.wait_for_function("document.getElementById('cartoon').complete && "
                               "document.getElementById('cartoon').naturalWidth > 0", timeout=20_000)
        size = page.evaluate("[document.getElementById('cartoon').naturalWidth, "
                             "document.getElementById('cartoon').naturalHeight, "
                             "document.getElementById('original').naturalWidth]")
        assert size == [800, 600, 800]

        shot = artifact_dir(tmp_path) / "vidlab_serve_e2e.png"
        page.screenshot(path=str(shot), full_page=True)
        page.close()
    assert shot.stat().st_size > 10_000
    assert errors == []
    request.node.user_properties.append(("screenshot", str(shot)))
    with capsys.disabled():
        print(f"\n[vidlab serve e2e] screenshot: {shot}")
