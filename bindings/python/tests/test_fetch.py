"""multiverseg.fetch and Model.load by name, without the network: a loopback HTTP server
serves random-weight checkpoints in the official format (the Rust tests' small model)
under the official file names, or an HTML page instead."""

import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import multiverseg as mvs

SMALL = Path(__file__).resolve().parents[3] / "crates" / "multiverseg" / "tests" / "data" / "small"
NAMES = {
    "MultiverSeg_v1_nf256_res128.pt": "mvs.pt",
    "ScribblePrompt_unet_v1_nf192_res128.pt": "sp.pt",
}


@pytest.fixture
def server(tmp_path):
    """Serves /ok/<official name> (the small checkpoints) and /html/<anything> (a page)."""
    root = tmp_path / "www"
    (root / "ok").mkdir(parents=True)
    for official, ours in NAMES.items():
        shutil.copy(SMALL / ours, root / "ok" / official)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def do_GET(self):
            if self.path.startswith("/html/"):
                body = b"<!DOCTYPE html><html><body>Sign in</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_fetch_then_load_by_name(server, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MVS_CACHE_DIR", str(cache))
    with pytest.raises(mvs.NotFoundError, match="multiverseg.fetch"):
        mvs.Model.load("official-v1")
    seen = []
    report = mvs.fetch("official-v1", mirror=server + "/ok", progress=lambda *a: seen.append(a))
    assert not report["cached"]
    assert Path(report["path"]) == cache / "official-v1" / "model.safetensors"
    assert sorted(p.name for p in (cache / "official-v1").iterdir()) == ["model.safetensors"]
    assert [f["file_name"] for f in report["files"]] == list(NAMES)
    assert {a[0] for a in seen} == set(NAMES)
    for f in report["files"]:
        assert f["bytes"] == (SMALL / NAMES[f["file_name"]]).stat().st_size
        assert len(f["sha256"]) == 64
    err = capsys.readouterr().err
    assert report["sha256"] in err and "Apache-2.0" in err
    assert mvs.resolve("official-v1") == report["path"]
    assert mvs.fetch("official-v1", quiet=True)["cached"]

    model = mvs.Model.load("official-v1", backend="cpu", threads=1)
    s = mvs.Session(model)
    img = np.random.default_rng(0).integers(0, 255, size=(40, 50)).astype(np.uint8)
    s.set_image(img)
    s.add_click(20.5, 15.5)
    p = s.predict()
    assert p.mask.shape == (40, 50)


def test_an_html_page_is_refused_and_nothing_is_kept(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(mvs.FormatError, match="HTML page"):
        mvs.fetch("official-v1", cache_dir=cache, mirror=server + "/html", quiet=True)
    assert list((cache / "official-v1").iterdir()) == []


def test_unknown_names_and_bad_mirrors(tmp_path):
    with pytest.raises(mvs.InvalidArgumentError, match="official-v1"):
        mvs.fetch("official-v7", cache_dir=tmp_path, quiet=True)
    with pytest.raises(mvs.InvalidArgumentError, match="mirror"):
        mvs.fetch("official-v1", cache_dir=tmp_path, mirror="file:///tmp", quiet=True)
    assert mvs.MODEL_NAMES == ["official-v1", "official-v0"]
