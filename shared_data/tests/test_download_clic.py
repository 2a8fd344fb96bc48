"""CLIC 2018 / 2020 downloads against a real HTTP server on loopback (no mocked network): URL layout, the
published md5 for the professional 2020 zips, and trust-on-first-use pins for the files without one."""

import functools
import hashlib
import http.server
import io
import json
import threading
import zipfile

import pytest
from _data_helpers import photo
from PIL import Image

from shared_data.__main__ import main
from shared_data.download import CLIC_FILES, CLIC_URL


class LoggingHandler(http.server.SimpleHTTPRequestHandler):
    log: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.log.append(self.path)
        super().do_GET()


def clic_zip(top: str, names: tuple[str, ...]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            png = io.BytesIO()
            Image.fromarray(photo(n)).save(png, format="PNG")
            z.writestr(f"{top}/{n}.png", png.getvalue())
        z.writestr(f"__MACOSX/{top}/._x.png", b"junk")
    return buf.getvalue()


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "srv"
    (root / "test").mkdir(parents=True)
    (root / "mobile_valid.zip").write_bytes(clic_zip("valid", ("astronaut", "coffee")))
    (root / "professional_valid.zip").write_bytes(clic_zip("valid", ("chelsea",)))
    (root / "test" / "mobile_test.zip").write_bytes(clic_zip("test", ("rocket",)))
    (root / "mobile_valid_2020.zip").write_bytes(clic_zip("valid", ("coffee",)))
    (root / "professional_valid_2020.zip").write_bytes(clic_zip("valid", ("chelsea",)))  # not the real one
    handler = functools.partial(LoggingHandler, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", root
    srv.shutdown()
    srv.server_close()


def records(out):
    recs = {}
    for line in (out / "manifest.jsonl").read_text().splitlines():
        r = json.loads(line)
        recs[r["key"]] = r
    return recs


def test_tables():
    assert CLIC_URL == "https://data.vision.ee.ethz.ch/cvl/clic/"
    assert CLIC_FILES["clic2018"]["mobile_test.zip"][0] == "test/mobile_test.zip"
    assert CLIC_FILES["clic2020"]["professional_valid_2020.zip"][2].startswith("md5:")
    assert CLIC_FILES["clic2020"]["mobile_valid_2020.zip"][2] is None


def test_first_use_pin_then_checked(server, tmp_path, capsys):
    url, root = server
    out = tmp_path / "clic"
    args = ["download", "clic2018", "--out", str(out), "--base-url", url, "--no-progress", "--retries", "0",
            "--files", "mobile_valid.zip", "mobile_test.zip", "professional_valid.zip", "--extract"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.count("trust on first use") == 3
    for name, served in (("mobile_valid.zip", root / "mobile_valid.zip"),
                         ("mobile_test.zip", root / "test" / "mobile_test.zip")):
        assert (out / name).read_bytes() == served.read_bytes()
        rec = records(out)[name]
        assert rec["outputs"][0]["sha256"] == hashlib.sha256(served.read_bytes()).hexdigest()
        assert "pinned-first-use" in rec["notes"]
    # mobile and professional both hold valid/: each is extracted into its own folder
    assert sorted(p.name for p in (out / "mobile_valid" / "valid").iterdir()) == ["astronaut.png", "coffee.png"]
    assert [p.name for p in (out / "professional_valid" / "valid").iterdir()] == ["chelsea.png"]
    assert not (out / "mobile_valid" / "__MACOSX").exists()
    assert main(["verify", str(out)]) == 0

    # second run: present files are checked against the pin, nothing is fetched
    LoggingHandler.log.clear()
    assert main(args[:-1]) == 0
    assert LoggingHandler.log == []
    assert capsys.readouterr().out.count("matches the sha256 pinned by its first download") == 3

    # a damaged local copy is fetched again and must match the pin
    (out / "mobile_test.zip").write_bytes(b"damaged")
    assert main(args[:-1]) == 0
    assert LoggingHandler.log == ["/test/mobile_test.zip"]
    capsys.readouterr()

    # the server's file changed: refused against the pin, nothing left under the final name
    (root / "test" / "mobile_test.zip").write_bytes(clic_zip("test", ("camera",)))
    (out / "mobile_test.zip").unlink()
    assert main(args[:-1]) == 2
    err = capsys.readouterr().err
    assert ("checksum mismatch" in err or "bytes, expected" in err) and "pinned by its first download" in err
    assert "--repin" in err
    assert not (out / "mobile_test.zip").exists()
    # --repin accepts the new file and records the new pin
    assert main(args[:-1] + ["--repin"]) == 0
    assert records(out)["mobile_test.zip"]["outputs"][0]["sha256"] == \
        hashlib.sha256((root / "test" / "mobile_test.zip").read_bytes()).hexdigest()
    assert main(["verify", str(out)]) == 0


def test_published_md5_is_enforced(server, tmp_path, capsys):
    url, _ = server
    out = tmp_path / "c20"
    assert main(["download", "clic2020", "--out", str(out), "--base-url", url, "--no-progress", "--retries", "0",
                 "--files", "mobile_valid_2020.zip"]) == 0
    assert "trust on first use" in capsys.readouterr().out
    # our stand-in professional_valid_2020.zip is not the real file: the published md5 refuses it
    assert main(["download", "clic2020", "--out", str(out), "--base-url", url, "--no-progress", "--retries", "0",
                 "--files", "professional_valid_2020.zip"]) == 2
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "md5:7111ee240435911db04dbc5f40d50272" in err
    assert not (out / "professional_valid_2020.zip").exists()
    assert main(["download", "clic2020", "--out", str(out), "--files", "nope.zip"]) == 2
    assert "not clic2020 files: nope.zip" in capsys.readouterr().err
