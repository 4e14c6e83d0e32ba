"""examples/browser in headless Chromium: an exported snapshot, run by
ConvNetJS in the page on a PNG of the input size, must give Keras' outputs.

The page and ConvNetJS (node_modules/convnetjs/build/convnet-min.js) are
copied to a temporary folder with snapshot.json and image.png, served on
127.0.0.1, and read back with ``chromium --dump-dom``.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from convnetjs_keras import to_snapshot

L = keras.layers
REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "browser"
CONVNETJS_BUILD = REPO_ROOT / "node_modules" / "convnetjs" / "build" / "convnet-min.js"
CHROMIUM = Path("/usr/bin/chromium")
TOLERANCE = 1e-5
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Canvas pixels must be the PNG's bytes, without colour conversion.
    "--force-color-profile=srgb",
    # Virtual time runs until the page is idle or 5 s have passed (not wall-clock time).
    "--virtual-time-budget=5000",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"Chromium is not installed at {CHROMIUM}; scripts/test.sh installs the Debian package 'chromium' "
           "when it runs as root")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def site(tmp_path):
    """A folder with the example page and ConvNetJS, served on 127.0.0.1; yields (folder, base URL)."""
    if not CONVNETJS_BUILD.is_file():
        pytest.fail(f"{CONVNETJS_BUILD} is missing; run `npm ci` in the repository root")
    folder = tmp_path / "site"
    shutil.copytree(EXAMPLE, folder)
    shutil.copy(CONVNETJS_BUILD, folder / "convnet-min.js")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def dump_dom(url: str, profile: Path) -> str:
    completed = subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def page_text(dom: str, element_id: str) -> str:
    match = re.search(rf'<[^>]*id="{element_id}"[^>]*>(.*?)</', dom, re.S)
    assert match, f"no element with id {element_id!r} in the page:\n{dom[-2000:]}"
    return html.unescape(match.group(1))


def classifier(input_shape, classes, seed):
    model = keras.Sequential([
        keras.Input(input_shape),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(classes, activation="softmax"),
    ])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.mark.parametrize("mode, depth", [("RGB", 3), ("L", 1)], ids=["rgb", "grayscale"])
def test_page_probabilities_match_keras(site, tmp_path, mode, depth):
    folder, base_url = site
    model = classifier((8, 8, depth), 5, seed=depth)
    (folder / "snapshot.json").write_text(json.dumps(to_snapshot(model)))
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(8, 8, 3) if mode == "RGB" else (8, 8), dtype=np.uint8)
    Image.fromarray(pixels, mode).save(folder / "image.png")

    dom = dump_dom(f"{base_url}/index.html", tmp_path / "profile")

    found = np.array(json.loads(page_text(dom, "probabilities")))
    # The page's preprocessing, as in the ConvNetJS demos: pixel / 255 - 0.5.
    x = (pixels.reshape(1, 8, 8, depth).astype(np.float64) / 255.0 - 0.5).astype("float32")
    expected = np.asarray(model(x))[0]
    np.testing.assert_allclose(found, expected, rtol=0, atol=TOLERANCE)
    assert f"predicted class {int(expected.argmax())}" in page_text(dom, "status")


def test_page_reports_missing_snapshot(site, tmp_path):
    folder, base_url = site
    Image.new("RGB", (4, 4)).save(folder / "image.png")

    dom = dump_dom(f"{base_url}/index.html?snapshot=missing.json", tmp_path / "profile")

    assert "Error: failed to load missing.json: HTTP 404" in page_text(dom, "status")
