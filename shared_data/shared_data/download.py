"""Streaming downloads with resume (HTTP ``Range``) and checksum, and the published tables they check against.

:func:`fetch` writes to ``DEST.part``, resumes a ``.part`` left by an earlier attempt with
``Range: bytes=N-`` (falling back to a fresh start when the server answers 200 instead of 206), retries a
connection that drops mid-stream, and only renames ``.part`` to ``DEST`` after the size and digest match.
A file that fails its checksum is deleted and reported; nothing unverified is left under the final name.

Kodak: the 24 PNGs of the Kodak Lossless True Color Image Suite from r0k.us, with the published byte sizes and
sha256 digests (:data:`KODAK_FILES`). CLIC 2020 professional train/valid: the zips from the CLIC site with the
md5 digests published alongside dataset loaders of that time (:data:`CLIC2020_FILES`). CLIC 2018 and the other
CLIC 2020 zips (mobile, test; :data:`CLIC_FILES`) have no published digest: the first download records the
file's sha256 and size in ``OUT/manifest.jsonl`` ("trust on first use", :func:`pinned`), and every later
download into that folder, and ``verify``, must match that pin.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .errors import LicError

KODAK_URL = "https://r0k.us/graphics/kodak/kodak/"

#: file name -> (bytes, sha256) as published for r0k.us's kodimNN.png.
KODAK_FILES: dict[str, tuple[int, str]] = {
    "kodim01.png": (736501, "a56e27cbf5f843c048b6af1d6e090760e9c92fadba88b7dee0205918a37523bd"),
    "kodim02.png": (617995, "4f4b74a79237e311d72cad958237b5f7088d8bce1c82305ebefe1a70e3022dfd"),
    "kodim03.png": (502888, "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db"),
    "kodim04.png": (637432, "e3b946107c5d3441c022f678d0c3caf1e224d81b1604ba840a4f88e562de61aa"),
    "kodim05.png": (785610, "10349e963c5c813d327852f82c1795fa4148d69fedffc4c589bee458e3ac3d53"),
    "kodim06.png": (618959, "363510303b715d4cbc384e1ce227e466b613a09e1b71ae985882bf8e7fbd9b18"),
    "kodim07.png": (566322, "b77d3f006f42414bb242222e0482e750c0fb9e5ee8d4bed2f6f11c5605fe54a4"),
    "kodim08.png": (788470, "ba23983c76b4832ee0e8af0592664756841a16779acd69f792e268fb6d13d6e7"),
    "kodim09.png": (582899, "6a4361c2fc194feb4edaa9f9a4a0620fb9943e460ac7fdf037fb0f6dd6607a7d"),
    "kodim10.png": (593463, "9dfb70f5867c29ff9ed6313683f19b3d867849e40fbc0c4c54a4a89df341cf23"),
    "kodim11.png": (621023, "7936814b58b5387fce2e4e2488b4ec830dadd95fa9520f358ddb30990b50f2b6"),
    "kodim12.png": (531024, "d78c37c2f04f23761ed2367dd77e2db584ddd4c3950833fecf89f199a8126980"),
    "kodim13.png": (822712, "bc34a3ce58dea09dce1704c997171602de90cb34d0c8503a988b77f473d39b08"),
    "kodim14.png": (692201, "55a94550ff18f3246c4074fd32b77b0c74447c26b6ad274d564d999c0450ba6e"),
    "kodim15.png": (612582, "7538cbb80cb9103606c48b806eae57d56c885c7f90b9b3be70a41160f9cbb683"),
    "kodim16.png": (534247, "a89c7268ccd4718ba424a99fc4643c572cf692ca6eae887185ceb4e9f11d2e54"),
    "kodim17.png": (602078, "37afcc89fbdcb76d9518e04b2fc011027e2f4cd14b3b2f83cefd721641a47c5b"),
    "kodim18.png": (780947, "1a9258c365988961d87a0598725b609139c303ad48a5aad6c503c3b1a87849aa"),
    "kodim19.png": (671476, "b7450b264b1b0a411390d8931b112c27905a992520fc90569dc4b920aa32bbdc"),
    "kodim20.png": (492462, "3b46c71e3b92a563820ba32936be8330c586c41f938efd94be938386aae4328a"),
    "kodim21.png": (637051, "ac958597c82073f6bb65129c68f72b651db5b9efd82e11547d07350214bc268b"),
    "kodim22.png": (701970, "1cee58eb1f2d9c7ebb254d208a03c783ce6cf2c4d8c2cf45e235dd23b4ce1b29"),
    "kodim23.png": (557596, "e3111a2fd4da24af15d6459ef9eacfe54106b38e27b4a21821b75c3f5d2d5baf"),
    "kodim24.png": (706397, "1071c68372cc5a01435c2c225a5cf7d4bb803846ec08bb6b3d6721b156d7cb96"),
}

CLIC_URL = "https://data.vision.ee.ethz.ch/cvl/clic/"

#: file name -> (bytes or None, "md5:<hex>") for the CLIC 2020 professional splits.
CLIC2020_FILES: dict[str, tuple[int | None, str]] = {
    "professional_train_2020.zip": (None, "md5:a6845cac88c3dd882246575f7a2fc5f9"),
    "professional_valid_2020.zip": (None, "md5:7111ee240435911db04dbc5f40d50272"),
}

#: dataset -> {local file name: (path under CLIC_URL, bytes or None, digest or None)}. CLIC 2018: the
#: compression.cc 2018 task page's links; CLIC 2020: the links of the 2020 page (as used by TFDS ``clic``).
#: Only the two professional 2020 zips have published digests; the others are pinned on first download
#: (see :func:`pinned`).
CLIC_FILES: dict[str, dict[str, tuple[str, int | None, str | None]]] = {
    "clic2018": {
        "professional_train.zip": ("professional_train.zip", None, None),
        "professional_valid.zip": ("professional_valid.zip", None, None),
        "mobile_train.zip": ("mobile_train.zip", None, None),
        "mobile_valid.zip": ("mobile_valid.zip", None, None),
        "professional_test.zip": ("test/professional_test.zip", None, None),
        "mobile_test.zip": ("test/mobile_test.zip", None, None),
    },
    "clic2020": {
        **{n: (n, size, digest) for n, (size, digest) in CLIC2020_FILES.items()},
        "mobile_train_2020.zip": ("mobile_train_2020.zip", None, None),
        "mobile_valid_2020.zip": ("mobile_valid_2020.zip", None, None),
        "CLIC2020Professional_test.zip": ("test/CLIC2020Professional_test.zip", None, None),
        "CLIC2020Mobile_test.zip": ("test/CLIC2020Mobile_test.zip", None, None),
    },
}

USER_AGENT = "shared_data-downloader/0.1 (+python urllib)"


class DownloadError(LicError, RuntimeError):
    """A download failed for good (HTTP error, too many retries, size or checksum mismatch)."""


@dataclass
class FetchResult:
    path: Path
    bytes: int
    digest: str          # "sha256:<hex>" or "md5:<hex>" as checked
    status: str          # "downloaded" | "resumed" | "present"


def _hasher(expected: str | None):
    algo = (expected or "sha256:").split(":", 1)[0]
    if algo not in ("sha256", "md5"):
        raise ValueError(f"unsupported digest {expected!r} (use sha256:<hex> or md5:<hex>)")
    return algo, hashlib.new(algo)


def digest_file(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"{algo}:{h.hexdigest()}"


def fetch(url: str, dest: str | os.PathLike, expected: str | None = None, size: int | None = None,
          retries: int = 5, timeout: float = 30.0, chunk: int = 1 << 16, progress: bool = True,
          backoff: float = 0.5) -> FetchResult:
    """Download ``url`` to ``dest`` with resume and verification.

    ``expected`` is ``"sha256:<hex>"`` (a bare hex string means sha256) or ``"md5:<hex>"``; ``size`` is the
    expected byte count. Raises :class:`DownloadError` with the URL and the reason.
    """
    dest = Path(dest)
    if expected and ":" not in expected:
        expected = "sha256:" + expected
    algo, _ = _hasher(expected)
    if dest.exists():
        got = digest_file(dest, algo)
        if (expected is None or got == expected) and (size is None or dest.stat().st_size == size):
            return FetchResult(dest, dest.stat().st_size, got, "present")
        dest.unlink()  # present but wrong: fetch again
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    resumed = part.exists() and part.stat().st_size > 0
    attempt = 0
    bar = None
    try:
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if size is not None and offset > size:
                part.unlink()
                offset = 0
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            if offset:
                req.add_header("Range", f"bytes={offset}-")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    status = resp.status
                    if offset and status == 206:
                        crange = resp.headers.get("Content-Range", "")
                        if not crange.startswith(f"bytes {offset}-"):
                            raise DownloadError(f"{url}: server answered Range {offset}- with {crange!r}")
                        mode = "ab"
                    else:
                        mode, offset = "wb", 0  # server ignored Range (or fresh start): rewrite from zero
                    length = resp.headers.get("Content-Length")
                    total = offset + int(length) if length is not None else size
                    if progress and bar is None:
                        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                   desc=dest.name, leave=False, dynamic_ncols=True)
                    elif bar is not None:
                        bar.reset(total=total)
                        bar.update(offset)
                    with open(part, mode) as f:
                        while True:
                            buf = resp.read(chunk)
                            if not buf:
                                break
                            f.write(buf)
                            if bar is not None:
                                bar.update(len(buf))
                    got_len = part.stat().st_size
                    if total is not None and got_len < total:
                        raise http.client.IncompleteRead(b"", total - got_len)
                break
            except urllib.error.HTTPError as e:
                if e.code == 416 and offset and size is not None and offset == size:
                    break  # the .part is already complete
                if e.code == 416:
                    part.unlink(missing_ok=True)  # stale .part the server cannot continue
                    attempt += 1
                    if attempt > retries:
                        raise DownloadError(f"{url}: HTTP 416 (range not satisfiable)") from None
                    continue
                if e.code in (408, 429, 500, 502, 503, 504) and attempt < retries:
                    attempt += 1
                    time.sleep(backoff * attempt)
                    continue
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError,
                    OSError) as e:
                if isinstance(e, DownloadError):
                    raise
                attempt += 1
                if attempt > retries:
                    raise DownloadError(f"{url}: gave up after {retries} retries "
                                        f"({type(e).__name__}: {e})") from None
                time.sleep(backoff * attempt)
                resumed = True
    finally:
        if bar is not None:
            bar.close()
    nbytes = part.stat().st_size
    got = digest_file(part, algo)
    if size is not None and nbytes != size:
        part.unlink()
        raise DownloadError(f"{url}: got {nbytes} bytes, expected {size} (deleted)")
    if expected is not None and got != expected:
        part.unlink()
        raise DownloadError(f"{url}: checksum mismatch: got {got}, expected {expected} (deleted)")
    os.replace(part, dest)
    return FetchResult(dest, nbytes, got, "resumed" if resumed else "downloaded")


def pinned(manifest_records: dict, name: str) -> tuple[str, int] | None:
    """The ``("sha256:<hex>", bytes)`` a previous download recorded for ``name`` in a folder's manifest, if
    any (the pin of the trust-on-first-use policy for files without a published digest)."""
    rec = manifest_records.get(name)
    if not rec or rec.get("status") != "done" or rec.get("kind") != "download":
        return None
    for o in rec.get("outputs", []):
        if o.get("path") == name and o.get("sha256"):
            return "sha256:" + o["sha256"], int(o["bytes"])
    return None
