"""The downloader against a real HTTP server on loopback serving the Kodak folder (no mocked network)."""

import hashlib
import http.server
import re
import threading
from pathlib import Path

import pytest
from _data_helpers import KODAK_DIR, needs_kodak

from shared_data.__main__ import main
from shared_data.download import KODAK_FILES, DownloadError, fetch

pytestmark = needs_kodak


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files from ``root`` with HTTP Range support; ``/drop/NAME`` cuts the first response short;
    ``/norange/NAME`` ignores Range; ``/wrong/NAME`` serves another file's bytes."""

    root: Path = KODAK_DIR
    log: list = []
    dropped: set = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode, _, name = self.path.lstrip("/").rpartition("/")
        self.log.append((self.path, self.headers.get("Range")))
        p = self.root / name
        if mode not in ("plain", "drop", "norange", "wrong") or not p.is_file():
            self.send_error(404)
            return
        data = p.read_bytes()
        if mode == "wrong":
            data = (self.root / "kodim02.png").read_bytes()
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m and mode != "norange":
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop" and self.path not in self.dropped:
            self.dropped.add(self.path)
            self.wfile.write(body[: len(body) // 3])  # then hang up mid-stream
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_download_kodak_cli_then_verify(server, tmp_path, capsys):
    out = tmp_path / "kodak"
    assert main(["download", "kodak", "--out", str(out), "--base-url", server + "/plain/", "--no-progress"]) == 0
    for name, (size, sha) in KODAK_FILES.items():
        data = (out / name).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha
    assert not list(out.glob("*.part"))
    assert main(["verify", str(out), "--dataset", "kodak"]) == 0
    assert main(["verify", str(out)]) == 0
    # a second run finds every file present and downloads nothing
    RangeHandler.log.clear()
    assert main(["download", "kodak", "--out", str(out), "--base-url", server + "/plain/", "--no-progress"]) == 0
    assert RangeHandler.log == []
    # verify notices a damaged file
    p = out / "kodim05.png"
    p.write_bytes(p.read_bytes()[:-1] + b"\0")
    assert main(["verify", str(out), "--dataset", "kodak"]) == 1
    assert "kodim05.png: does not match" in capsys.readouterr().out


def test_resume_from_partial_file_uses_range(server, tmp_path):
    size, sha = KODAK_FILES["kodim01.png"]
    part = tmp_path / "kodim01.png.part"
    part.write_bytes((KODAK_DIR / "kodim01.png").read_bytes()[:100_000])
    RangeHandler.log.clear()
    res = fetch(server + "/plain/kodim01.png", tmp_path / "kodim01.png", sha, size, progress=False)
    assert res.status == "resumed" and res.bytes == size
    assert RangeHandler.log == [("/plain/kodim01.png", "bytes=100000-")]
    assert hashlib.sha256((tmp_path / "kodim01.png").read_bytes()).hexdigest() == sha
    assert not part.exists()


def test_connection_dropped_mid_stream_is_resumed(server, tmp_path):
    size, sha = KODAK_FILES["kodim03.png"]
    RangeHandler.log.clear()
    res = fetch(server + "/drop/kodim03.png", tmp_path / "k.png", sha, size, progress=False, backoff=0.01)
    assert res.status == "resumed"
    assert RangeHandler.log[0] == ("/drop/kodim03.png", None)
    assert RangeHandler.log[1][1] is not None and RangeHandler.log[1][1].startswith("bytes=")
    assert hashlib.sha256((tmp_path / "k.png").read_bytes()).hexdigest() == sha


def test_server_without_range_restarts_from_zero(server, tmp_path):
    size, sha = KODAK_FILES["kodim04.png"]
    (tmp_path / "k.png.part").write_bytes(b"garbage that must not survive")
    res = fetch(server + "/norange/kodim04.png", tmp_path / "k.png", sha, size, progress=False)
    assert res.bytes == size and hashlib.sha256((tmp_path / "k.png").read_bytes()).hexdigest() == sha


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    size, sha = KODAK_FILES["kodim01.png"]
    with pytest.raises(DownloadError, match="got .* bytes, expected|checksum mismatch"):
        fetch(server + "/wrong/kodim01.png", tmp_path / "k.png", sha, size, progress=False)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(server + "/wrong/kodim01.png", tmp_path / "k.png", sha, None, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_a_clear_error(server, tmp_path, capsys):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server + "/plain/nope.png", tmp_path / "n.png", progress=False)
    rc = main(["download", "kodak", "--out", str(tmp_path), "--base-url", server + "/missing-dir/x/",
               "--files", "kodim01.png", "--no-progress", "--retries", "0"])
    assert rc == 2 and "HTTP 404" in capsys.readouterr().err


def test_md5_digest_and_zip_extract(server, tmp_path):
    import zipfile

    from shared_data.__main__ import _extract

    md5 = hashlib.md5((KODAK_DIR / "kodim07.png").read_bytes()).hexdigest()
    res = fetch(server + "/plain/kodim07.png", tmp_path / "k7.png", "md5:" + md5, progress=False)
    assert res.digest == "md5:" + md5
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(server + "/plain/kodim07.png", tmp_path / "k8.png", "md5:" + "0" * 32, progress=False)
    z = tmp_path / "professional_valid_2020.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(tmp_path / "k7.png", "valid/k7.png")
        f.writestr("__MACOSX/valid/._k7.png", b"junk")
    assert _extract(z, tmp_path / "x") == {"__MACOSX metadata": 1}     # counted and printed, not silent
    assert _extract(z, tmp_path / "x") == {"__MACOSX metadata": 1, "already extracted": 1}
    assert [p.relative_to(tmp_path / "x").as_posix() for p in (tmp_path / "x").rglob("*") if p.is_file()] == \
        ["valid/k7.png"]
    assert (tmp_path / "x/valid/k7.png").read_bytes() == (KODAK_DIR / "kodim07.png").read_bytes()
