"""shared_data.fuzz on a toy codec (codec id 'test': a zlib-compressed image plus a CRC of the pixels): the
careful decoder only ever refuses cleanly; deliberately broken decoders show that each bad outcome is caught."""

import threading
import time
import zlib

import numpy as np
import pytest

from shared_data import container as C
from shared_data import fuzz
from shared_data.container import ContainerError

FP = bytes.fromhex("00112233445566ff")


class ToyError(ValueError):
    """The toy codec's own refusal."""


def encode(img: np.ndarray) -> bytes:
    h, w, _ = img.shape
    raw = img.tobytes()
    head = C.pack_ints([1, h, w, zlib.crc32(raw)])
    return C.pack(C.Container("test", FP, h, w, (head, zlib.compress(raw, 9))))


def decode(data: bytes) -> np.ndarray:
    """The careful decoder: every check a real codec should make, each a clean error."""
    c = C.unpack(data, codec="test", model_fingerprint=FP)
    if len(c.sections) != 2:
        raise ToyError(f"test file must have 2 sections, has {len(c.sections)}")
    head = C.unpack_ints(c.sections[0], max_count=8)
    if len(head) != 4 or head[0] != 1 or head[1:3] != [c.height, c.width]:
        raise ToyError(f"test header {head} does not match the container's {c.height}x{c.width}")
    n = c.height * c.width * 3
    d = zlib.decompressobj()
    try:
        raw = d.decompress(c.sections[1], n + 1)
    except zlib.error as e:
        raise ToyError(f"corrupt pixel stream ({e})") from None
    if len(raw) != n or not d.eof or d.unused_data:
        raise ToyError(f"pixel stream holds {len(raw)} bytes, the image needs {n}")
    if zlib.crc32(raw) != head[3]:
        raise ToyError("pixel CRC mismatch")
    return np.frombuffer(raw, np.uint8).reshape(c.height, c.width, 3)


@pytest.fixture(scope="module")
def clean():
    rng = np.random.default_rng(3)
    img = (rng.integers(0, 64, (12, 17, 3)) * 4).astype(np.uint8)   # compressible, not trivial
    return encode(img)


def test_the_careful_decoder_only_refuses_cleanly(clean):
    rep = fuzz.run(decode, clean, (ContainerError, ToyError), n_cases=600, seed=0, progress=False)
    assert rep.ok, rep.summary()
    assert rep.counts["clean-error"] >= 550 and sum(rep.counts.values()) == 600
    assert set(rep.counts) <= {"clean-error", "same", "unchanged"}
    assert "clean-error" in rep.examples and rep.examples["clean-error"].detail
    # every mutator ran: case i uses mutator i mod len(mutators)
    kinds = {fuzz.make_case(clean, 0, i)[0].split(":")[0] for i in range(60)}
    for k in ("raw/bitflip", "raw/truncate", "raw/splice", "crc/zero-header", "crc/remove-range",
              "payload/cut", "payload/swap", "struct/section-length", "struct/section-count", "struct/image-size",
              "struct/int-section", "struct/ids"):
        assert k in kinds, k


def test_same_seed_same_cases_and_reproduction(clean, tmp_path):
    a = [fuzz.make_case(clean, 7, i) for i in range(80)]
    assert a == [fuzz.make_case(clean, 7, i) for i in range(80)]
    assert a != [fuzz.make_case(clean, 8, i) for i in range(80)]
    # the CRC-recomputed families really reach the payload parsers: the container accepts those files
    accepted = sum(1 for name, d in a if name.startswith(("payload/", "struct/int")) and fuzz._is_container(d))
    assert accepted >= 10


def _crashy(data):
    """Forgets that zlib raises its own error type."""
    c = C.unpack(data)
    return np.frombuffer(zlib.decompress(c.sections[1]), np.uint8).reshape(c.height, c.width, 3)


def _silent(data):
    """Never checks the pixel CRC, and trusts any section count: a changed pixel stream decodes 'fine'."""
    c = C.unpack(data)
    raw = zlib.decompress(c.sections[-1]) if c.sections else b""
    n = c.height * c.width * 3
    raw = (raw + bytes(n))[:n]
    return np.frombuffer(raw, np.uint8).reshape(c.height, c.width, 3)


def test_a_crash_is_caught_with_a_reproducible_example(clean, tmp_path):
    rep = fuzz.run(_crashy, clean, ContainerError, n_cases=200, seed=1, progress=False)
    assert not rep.ok and rep.counts["crash"] > 0
    ex = rep.examples["crash"]
    assert "error" in ex.detail and ex.mutation
    p = ex.write(tmp_path / "crash.lic")
    assert p.read_bytes() == ex.data == fuzz.make_case(clean, 1, ex.index)[1]
    with pytest.raises(Exception) as e:
        _crashy(p.read_bytes())
    assert not isinstance(e.value, ContainerError)
    assert "crash: case" in rep.summary()


def test_silent_wrong_is_caught(clean):
    rep = fuzz.run(_silent, clean, ContainerError, n_cases=300, seed=2, progress=False,
                   families=("payload", "struct"))
    assert rep.counts["silent-wrong"] > 0, rep.summary()
    ex = rep.examples["silent-wrong"]
    assert "decoded without error" in ex.detail and ex.data != clean
    assert rep.by_kind[("struct/image-size", "silent-wrong")] > 0 and "bad outcomes by mutator" in rep.summary()
    assert sum(n for (_, o), n in rep.by_kind.items() if o == "silent-wrong") == rep.counts["silent-wrong"]
    assert ex.reproduce.endswith("families=('payload', 'struct'))")
    assert fuzz.make_case(clean, 2, ex.index, families=ex.families)[1] == ex.data
    out = _silent(ex.data)
    assert not np.array_equal(out, decode(clean)) or out.shape != decode(clean).shape


def test_an_empty_message_is_not_a_clean_error(clean):
    def mute(data):
        try:
            return decode(data)
        except (ContainerError, ToyError):
            raise ToyError("") from None

    rep = fuzz.run(mute, clean, (ContainerError, ToyError), n_cases=30, progress=False)
    assert rep.counts["crash"] > 0 and "empty message" in rep.examples["crash"].detail


def test_a_non_array_result_is_a_crash(clean):
    rep = fuzz.run(lambda d: decode(d) if d == clean else None, clean, ContainerError, n_cases=10,
                   families=("raw",), progress=False)
    assert rep.counts["crash"] == 10 - rep.counts["unchanged"]
    assert "not a numpy array" in rep.examples["crash"].detail


def test_a_hang_is_caught_by_the_thread_timer(clean):
    release = threading.Event()

    def stuck(data):
        if data != clean:
            release.wait(30)     # a decoder stuck on damaged input (sleeps, so the leftover thread costs nothing)
        return decode(data)

    t0 = time.perf_counter()
    rep = fuzz.run(stuck, clean, ContainerError, n_cases=50, time_limit=0.2, progress=False)
    release.set()
    assert rep.counts["hang"] == 1 and "hung" in rep.stopped and time.perf_counter() - t0 < 10
    assert "no result after 0.2 s" in rep.examples["hang"].detail


def test_a_hang_is_interrupted_by_the_signal_timer_and_the_run_goes_on(clean):
    def spin(data):
        if data[-1] % 3 == 0 and data != clean:   # a busy loop in Python on some inputs
            while True:
                pass
        return decode(data)

    rep = fuzz.run(spin, clean, (ContainerError, ToyError), n_cases=40, time_limit=0.1, timer="signal",
                   progress=False)
    assert rep.counts["hang"] >= 3 and not rep.stopped
    assert rep.counts["clean-error"] > 0 and sum(rep.counts.values()) == 40


def test_bad_setup_is_refused(clean):
    with pytest.raises(ValueError, match="clean file does not decode"):
        fuzz.run(decode, clean[:-1], ContainerError, n_cases=1, progress=False)
    with pytest.raises(ValueError, match="unknown mutation family"):
        fuzz.run(decode, clean, ContainerError, n_cases=1, families=("nope",), progress=False)
    with pytest.raises(ValueError, match="timer"):
        fuzz.run(decode, clean, ContainerError, n_cases=1, timer="alarm", progress=False)


def test_progress_bar_with_and_without_tqdm(clean, monkeypatch, capsys):
    fuzz.run(decode, clean, (ContainerError, ToyError), n_cases=5, progress=True)
    assert "fuzz" in capsys.readouterr().err                       # tqdm's bar (the root env has tqdm)
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)   # an env without tqdm: no bar, same result
    rep = fuzz.run(decode, clean, (ContainerError, ToyError), n_cases=5, progress=True)
    assert rep.ok and sum(rep.counts.values()) == 5 and capsys.readouterr().err == ""
