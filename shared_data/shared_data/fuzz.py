"""In-process fuzzing of a codec's decoder: feed it mutated ``.lic`` files and sort what happens.

    from shared_data import fuzz
    rep = fuzz.run(decode, clean_bytes, errors=(ContainerError,), n_cases=400, seed=0, time_limit=5.0)
    print(rep.summary())               # counts per outcome, the first example of each bad one
    assert rep.ok, rep.summary()       # no crash, hang or silent-wrong
    rep.examples["crash"].write("case.lic")      # the bytes of that case, to reproduce it
    data = fuzz.make_case(clean_bytes, seed=0, index=17)[1]   # or regenerate it from (seed, index)

``decode(data: bytes) -> numpy.ndarray`` is the caller's (load the model once, outside); ``errors`` are the
exception types a clean refusal may raise (e.g. ``ContainerError`` and the codec's own error class). Every
case is decoded once and classified:

========================  =====================================================================================
``clean-error``           an allowed exception type with a non-empty message (what a decoder should do)
``same``                  decode returned the clean image (the damage did not matter, e.g. an unused byte)
``unchanged``             the mutation happened to give back the clean bytes (not decoded)
``crash``                 any other exception, an allowed one with an empty message, or a non-array result
``hang``                  decode did not return within ``time_limit`` seconds
``silent-wrong``          decode returned without error an image that differs from the clean decode
========================  =====================================================================================

The bad outcomes are ``crash``, ``hang`` and ``silent-wrong``; :attr:`Report.ok` is true without them.

Mutations (case ``i`` uses mutator ``i mod len(mutators)``, its parameters drawn from
``random.Random(f"{seed}:{i}")``, so a case is reproducible on its own with :func:`make_case`):

* ``raw/*`` — container level, the CRC-32 trailer left as it is: bit flips, byte overwrites, truncation,
  junk appended or inserted, header bytes zeroed, a splice of two files (``others``, or the file with
  itself), a duplicated and a removed byte range. A decoder must refuse all of them (the container's CRC).
* ``crc/*`` — the same mutations with the CRC-32 trailer recomputed, so the damage reaches the header
  checks, each payload parser and the entropy decoder.
* ``payload/*`` — damage confined to the payload sections, header and lengths kept consistent and the CRC
  recomputed: bit flips / overwrites inside one section, a section cut, extended with junk, emptied, replaced
  by random bytes, two sections swapped, one dropped or duplicated.
* ``struct/*`` — the container's own fields at and beyond their limits (:mod:`shared_data.container`'s
  layout): each varint section length (0, ±1, huge, an overlong varint), the section count (0, ±1,
  ``MAX_SECTIONS``, 255), height and width (0, 1, ±1, ``MAX_SIDE``, ``MAX_SIDE + 1``, 2³²−1, swapped),
  version, codec id, fingerprint; and every integer of a section that parses as :func:`container.pack_ints`
  (codecs keep shapes and flags there) set to 0, 1, ±1, 2³¹, 2³² and 2⁶³.

Hangs: ``timer="thread"`` (default) decodes each case in a worker thread and waits ``time_limit`` seconds; it
detects hangs inside C code too but cannot stop the stuck thread, so the run stops at the first hang
(:attr:`Report.stopped`). ``timer="signal"`` decodes on the calling (main) thread under
``signal.setitimer``: a hang in Python code is interrupted and the run goes on, a hang inside one C call is
only interrupted when that call returns. Memory: a decoder that believes a forged size may allocate
accordingly; run under a memory limit (``ulimit -v``) where that matters.
"""

from __future__ import annotations

import random
import signal
import struct
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import container as C

BAD = ("crash", "hang", "silent-wrong")
OUTCOMES = ("clean-error", "same", "unchanged") + BAD


# --- mutations ---------------------------------------------------------------------------------------------

def _crc(body: bytes) -> bytes:
    return body + C._CRC.pack(zlib.crc32(body) & 0xFFFFFFFF)


def _span(n: int, rng: random.Random, most: int = 64) -> tuple[int, int]:
    a = rng.randrange(max(1, n))
    return a, min(n, a + rng.randint(1, most))


def _bitflip(d: bytes, rng, others) -> tuple[str, bytes]:
    b = bytearray(d)
    flips = []
    for _ in range(rng.choice((1, 1, 2, 8))):
        i, bit = rng.randrange(len(b)), rng.randrange(8)
        b[i] ^= 1 << bit
        flips.append(f"{i}.{bit}")
    return "bitflip " + ",".join(flips), bytes(b)


def _overwrite(d: bytes, rng, others) -> tuple[str, bytes]:
    b = bytearray(d)
    a, e = _span(len(b), rng, 16)
    fill = rng.choice(("random", "00", "ff"))
    b[a:e] = rng.randbytes(e - a) if fill == "random" else bytes.fromhex(fill) * (e - a)
    return f"overwrite [{a}:{e}] {fill}", bytes(b)


def _truncate(d: bytes, rng, others) -> tuple[str, bytes]:
    k = rng.choice((0, 1, 4, 5, 22, 23, rng.randrange(len(d)), len(d) - 1, len(d) - 4, len(d) - 5))
    k = max(0, min(k, len(d) - 1))
    return f"truncate to {k}", d[:k]


def _junk(d: bytes, rng, others) -> tuple[str, bytes]:
    junk = rng.randbytes(rng.choice((1, 7, 100)))
    if rng.random() < 0.5:
        return f"append {len(junk)} junk bytes", d + junk
    i = rng.randrange(len(d) + 1)
    return f"insert {len(junk)} junk bytes at {i}", d[:i] + junk + d[i:]


def _zero_header(d: bytes, rng, others) -> tuple[str, bytes]:
    a, e = rng.choice(((0, 4), (4, 6), (6, 14), (14, 22), (22, 23), (0, 23), (0, min(len(d), 64))))
    e = min(e, len(d))
    return f"zero header [{a}:{e}]", d[:a] + bytes(e - a) + d[e:]


def _splice(d: bytes, rng, others) -> tuple[str, bytes]:
    o = rng.choice(list(others)) if others else d
    i, j = rng.randrange(len(d) + 1), rng.randrange(len(o) + 1)
    return f"splice clean[:{i}] + {'other' if others else 'clean'}[{j}:]", d[:i] + o[j:]


def _dup_range(d: bytes, rng, others) -> tuple[str, bytes]:
    a, e = _span(len(d), rng)
    return f"duplicate [{a}:{e}]", d[:e] + d[a:e] + d[e:]


def _remove_range(d: bytes, rng, others) -> tuple[str, bytes]:
    a, e = _span(len(d), rng)
    return f"remove [{a}:{e}]", d[:a] + d[e:]


_RAW = {"bitflip": _bitflip, "overwrite": _overwrite, "truncate": _truncate, "junk": _junk,
        "zero-header": _zero_header, "splice": _splice, "duplicate-range": _dup_range,
        "remove-range": _remove_range}


def _with_crc(fn):
    def m(d: bytes, rng, others):
        name, out = fn(d[:-4], rng, [o[:-4] for o in others])
        return name + " (CRC recomputed)", _crc(out)
    return m


@dataclass
class _Layout:
    """The clean file split along container.py's layout."""

    fixed: bytes           # the 23 fixed header bytes
    lengths: list[int]
    sections: list[bytes]

    @classmethod
    def parse(cls, data: bytes) -> _Layout:
        c = C.unpack(data)
        return cls(data[:C._FIXED.size], [len(s) for s in c.sections], list(c.sections))

    def build(self, fixed: bytes | None = None, lengths: Sequence[bytes] | None = None,
              sections: Sequence[bytes] | None = None, n: int | None = None) -> bytes:
        secs = self.sections if sections is None else list(sections)
        lens = [C.encode_varint(len(s)) for s in secs] if lengths is None else list(lengths)
        head = bytearray(self.fixed if fixed is None else fixed)
        head[22] = (len(lens) if n is None else n) & 0xFF
        return _crc(bytes(head) + b"".join(lens) + b"".join(secs))


def _pick_section(lay: _Layout, rng, nonempty=True) -> int | None:
    idx = [i for i, s in enumerate(lay.sections) if s or not nonempty]
    return rng.choice(idx) if idx else None


def _payload(kind: str):
    def m(d: bytes, rng, others):
        lay = _Layout.parse(d)
        secs = list(lay.sections)
        i = _pick_section(lay, rng, nonempty=kind not in ("extend", "swap", "drop", "duplicate"))
        if i is None or (kind == "swap" and len(secs) < 2):
            return f"payload {kind}: no section to damage (CRC recomputed)", _crc(d[:-4])
        s = secs[i]
        if kind == "bitflip":
            b = bytearray(s)
            j, bit = rng.randrange(len(b)), rng.randrange(8)
            b[j] ^= 1 << bit
            what, secs[i] = f"bitflip section {i} byte {j} bit {bit}", bytes(b)
        elif kind == "overwrite":
            a, e = _span(len(s), rng, 8)
            what = f"overwrite section {i} [{a}:{e}]"
            secs[i] = s[:a] + rng.randbytes(e - a) + s[e:]
        elif kind == "cut":
            k = rng.randrange(len(s))
            what, secs[i] = f"cut section {i} to {k} of {len(s)} bytes", s[:k]
        elif kind == "extend":
            junk = rng.randbytes(rng.choice((1, 4, 64)))
            what, secs[i] = f"extend section {i} by {len(junk)} junk bytes", s + junk
        elif kind == "empty":
            what, secs[i] = f"empty section {i}", b""
        elif kind == "random":
            what, secs[i] = f"section {i} replaced by {len(s)} random bytes", rng.randbytes(len(s))
        elif kind == "swap":
            j = rng.choice([k for k in range(len(secs)) if k != i])
            secs[i], secs[j] = secs[j], secs[i]
            what = f"swap sections {i} and {j}"
        elif kind == "drop":
            what = f"drop section {i} of {len(secs)}"
            del secs[i]
        else:  # duplicate
            what = f"duplicate section {i} (now {len(secs) + 1} sections)"
            secs.insert(i, s)
        return f"{what} (lengths consistent, CRC recomputed)", lay.build(sections=secs)
    return m


def _struct_length(d: bytes, rng, others):
    lay = _Layout.parse(d)
    if not lay.sections:
        return "no section length to forge", _crc(d[:-4])
    i = rng.randrange(len(lay.sections))
    ln = lay.lengths[i]
    choice = rng.choice(("0", "-1", "+1", "2^32", "2^63", "max-10-byte", "overlong"))
    enc = [C.encode_varint(x) for x in lay.lengths]
    val = {"0": 0, "-1": max(0, ln - 1), "+1": ln + 1, "2^32": 1 << 32, "2^63": 1 << 63,
           "max-10-byte": (1 << 70) - 1}.get(choice)
    enc[i] = b"\xff" * 10 + b"\x01" if choice == "overlong" else C.encode_varint(val)
    return f"section {i} length {ln} -> {choice} (CRC recomputed)", lay.build(lengths=enc)


def _struct_count(d: bytes, rng, others):
    lay = _Layout.parse(d)
    n = len(lay.sections)
    v = rng.choice((0, max(0, n - 1), n + 1, C.MAX_SECTIONS, C.MAX_SECTIONS + 1, 255))
    return f"section count {n} -> {v} (CRC recomputed)", lay.build(n=v)


def _struct_size(d: bytes, rng, others):
    lay = _Layout.parse(d)
    _, _, _, _, h, w, _ = C._FIXED.unpack(lay.fixed)
    which = rng.choice(("h", "w", "both", "swap"))
    vals = (0, 1, max(1, h - 1), h + 1, C.MAX_SIDE, C.MAX_SIDE + 1, 0xFFFFFFFF) if which != "w" else \
        (0, 1, max(1, w - 1), w + 1, C.MAX_SIDE, C.MAX_SIDE + 1, 0xFFFFFFFF)
    v = rng.choice(vals)
    nh, nw = {"h": (v, w), "w": (h, v), "both": (v, v), "swap": (w, h)}[which]
    fixed = lay.fixed[:14] + struct.pack("<II", nh, nw) + lay.fixed[22:]
    return f"image size {h}x{w} -> {nh}x{nw} (CRC recomputed)", lay.build(fixed=fixed)


def _struct_ids(d: bytes, rng, others):
    lay = _Layout.parse(d)
    f = bytearray(lay.fixed)
    field_ = rng.choice(("version", "codec", "fingerprint"))
    if field_ == "version":
        f[4] = rng.choice((0, C.VERSION + 1, 255))
        what = f"version -> {f[4]}"
    elif field_ == "codec":
        f[5] = rng.choice([v for v in (*C.CODEC_IDS.values(), 0, 6, 254) if v != f[5]])
        what = f"codec id -> {f[5]}"
    else:
        j = 6 + rng.randrange(C.FINGERPRINT_BYTES)
        f[j] ^= 1 << rng.randrange(8)
        what = f"fingerprint byte {j - 6} flipped"
    return f"{what} (CRC recomputed)", lay.build(fixed=bytes(f))


_INT_LIMITS = {"0": 0, "1": 1, "2^31": 1 << 31, "2^32": 1 << 32, "2^63": 1 << 63}


def _struct_ints(d: bytes, rng, others):
    lay = _Layout.parse(d)
    cand = []
    for i, s in enumerate(lay.sections):
        try:
            vals = C.unpack_ints(s)
        except C.ContainerError:
            continue
        if vals:
            cand.append((i, vals))
    if not cand:
        return "no varint integer section (CRC recomputed)", _crc(d[:-4])
    i, vals = rng.choice(cand)
    j = rng.randrange(len(vals))
    choice = rng.choice(("0", "1", "-1", "+1", "2^31", "2^32", "2^63"))
    new = list(vals)
    new[j] = {"-1": max(0, vals[j] - 1), "+1": vals[j] + 1}.get(choice, _INT_LIMITS.get(choice))
    secs = list(lay.sections)
    secs[i] = C.pack_ints(new)
    return f"section {i} int {j} {vals[j]} -> {choice} = {new[j]} (CRC recomputed)", lay.build(sections=secs)


def _mutators(families: Sequence[str], structured: bool) -> list[tuple[str, Callable]]:
    out = []
    for fam in families:
        if fam == "raw":
            out += [(f"raw/{k}", f) for k, f in _RAW.items()]
        elif fam == "crc":
            out += [(f"crc/{k}", _with_crc(f)) for k, f in _RAW.items()]
        elif fam == "payload" and structured:
            out += [(f"payload/{k}", _payload(k)) for k in ("bitflip", "overwrite", "cut", "extend", "empty",
                                                            "random", "swap", "drop", "duplicate")]
        elif fam == "struct" and structured:
            out += [("struct/section-length", _struct_length), ("struct/section-count", _struct_count),
                    ("struct/image-size", _struct_size), ("struct/ids", _struct_ids),
                    ("struct/int-section", _struct_ints)]
        elif fam not in ("raw", "crc", "payload", "struct"):
            raise ValueError(f"unknown mutation family {fam!r}; choose from raw, crc, payload, struct")
    return out


FAMILIES = ("raw", "crc", "payload", "struct")


def _is_container(data: bytes) -> bool:
    try:
        C.unpack(data)
        return True
    except C.ContainerError:
        return False


def make_case(clean: bytes, seed: int = 0, index: int = 0, families: Sequence[str] = FAMILIES,
              others: Sequence[bytes] = ()) -> tuple[str, bytes]:
    """The mutation name and bytes of case ``index`` of a run with this ``seed`` (what :func:`run` decodes)."""
    clean = bytes(clean)
    muts = _mutators(families, _is_container(clean))
    if not muts:
        raise ValueError(f"no mutators for families {list(families)} (payload/struct need a valid container)")
    kind, fn = muts[index % len(muts)]
    rng = random.Random(f"{seed}:{index}")
    what, data = fn(clean, rng, [bytes(o) for o in others])
    return f"{kind}: {what}", data


# --- running ----------------------------------------------------------------------------------------------

@dataclass
class Example:
    """The first case with a given outcome: enough to reproduce it."""

    outcome: str
    index: int
    seed: int
    mutation: str
    detail: str
    data: bytes = field(repr=False)
    families: tuple[str, ...] = ("raw", "crc", "payload", "struct")
    with_others: bool = False

    def write(self, path: str | Path) -> Path:
        """Write this case's bytes to ``path`` (atomically), e.g. to run the codec's CLI on it."""
        from .imageio import atomic_write_bytes

        atomic_write_bytes(path, self.data)
        return Path(path)

    @property
    def reproduce(self) -> str:
        fam = "" if self.families == FAMILIES else f", families={self.families!r}"
        return (f"shared_data.fuzz.make_case(clean, seed={self.seed}, index={self.index}{fam}"
                + (", others=others)" if self.with_others else ")"))

    def line(self) -> str:
        return (f"{self.outcome}: case {self.index} ({self.mutation}): {self.detail} "
                f"[{len(self.data)} bytes; {self.reproduce}]")


@dataclass
class Report:
    counts: Counter
    examples: dict[str, Example]
    n_cases: int
    seconds: float
    seed: int
    stopped: str = ""          # why the run stopped before n_cases (a hang in thread mode)
    notes: list[str] = field(default_factory=list)
    by_kind: Counter = field(default_factory=Counter)   # (mutator, outcome) -> cases, e.g. ("struct/image-size", "silent-wrong")

    @property
    def ok(self) -> bool:
        return not any(self.counts.get(k) for k in BAD)

    def summary(self) -> str:
        counts = ", ".join(f"{k} {self.counts[k]}" for k in OUTCOMES if self.counts.get(k))
        lines = [f"fuzz: {sum(self.counts.values())} of {self.n_cases} cases (seed {self.seed}) in "
                 f"{self.seconds:.1f} s: {counts}" + (f"; stopped: {self.stopped}" if self.stopped else "")]
        lines += [f"  {self.examples[k].line()}" for k in BAD if k in self.examples]
        bad = sorted((k, o, n) for (k, o), n in self.by_kind.items() if o in BAD)
        if bad:
            lines.append("  bad outcomes by mutator: " + ", ".join(f"{k} {o} {n}" for k, o, n in bad))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class _Timeout(BaseException):
    """Raised by the signal timer inside decode (a BaseException, so ``except Exception`` cannot eat it)."""


def _call_thread(decode, data: bytes, limit: float):
    box: dict = {}

    def target():
        try:
            box["value"] = decode(data)
        except BaseException as e:  # noqa: BLE001 - classified by the caller
            box["error"] = e

    t = threading.Thread(target=target, name="fuzz-decode", daemon=True)
    t.start()
    t.join(limit)
    if t.is_alive():
        raise _Timeout()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _call_signal(decode, data: bytes, limit: float):
    def on_alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return decode(data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _name(e: BaseException) -> str:
    t = type(e)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _where(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    return f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""


def classify(decode, data: bytes, clean: bytes, reference: np.ndarray, errors: tuple, time_limit: float,
             timer: str = "thread") -> tuple[str, str]:
    """Decode one case; returns ``(outcome, detail)`` (see the module docstring)."""
    if data == clean:
        return "unchanged", "the mutation gave back the clean bytes"
    call = _call_thread if timer == "thread" else _call_signal
    t0 = time.perf_counter()
    try:
        out = call(decode, data, time_limit)
    except _Timeout:
        return "hang", f"no result after {time_limit:g} s"
    except errors as e:
        if str(e).strip():
            return "clean-error", f"{type(e).__name__}: {e}"
        return "crash", f"{_name(e)} with an empty message{_where(e)}"
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit, MemoryError, RecursionError ... are crashes too
        return "crash", f"{_name(e)}: {str(e)[:300]}{_where(e)}"
    dt = time.perf_counter() - t0
    if not isinstance(out, np.ndarray):
        return "crash", f"decode returned {type(out).__name__}, not a numpy array"
    if out.shape == reference.shape and out.dtype == reference.dtype and np.array_equal(out, reference):
        return "same", "decoded to the clean image"
    if out.shape != reference.shape:
        diff = f"shape {out.shape} instead of {reference.shape}"
    elif out.dtype != reference.dtype:
        diff = f"dtype {out.dtype} instead of {reference.dtype}"
    else:
        ne = np.asarray(out != reference)
        diff = f"{int(ne.sum())} of {ne.size} values differ"
    return "silent-wrong", f"decoded without error in {dt:.2f} s: {diff}"


def run(decode: Callable[[bytes], np.ndarray], clean: bytes, errors: type[BaseException] | tuple = (
        C.ContainerError,), *, n_cases: int = 300, seed: int = 0, time_limit: float = 10.0,
        families: Sequence[str] = FAMILIES, others: Sequence[bytes] = (), timer: str = "thread",
        progress: bool = True, reference: np.ndarray | None = None) -> Report:
    """Decode ``n_cases`` mutations of ``clean`` with ``decode`` and count the outcomes (module docstring).

    ``errors``: the exception type(s) of a clean refusal. ``others``: more clean files of the same codec for
    splices. ``reference``: the clean decode (default: ``decode(clean)``, which must succeed). ``timer``:
    ``"thread"`` or ``"signal"`` (main thread only). ``progress``: a tqdm bar where tqdm is installed.
    """
    if timer not in ("thread", "signal"):
        raise ValueError(f"timer must be 'thread' or 'signal', got {timer!r}")
    if timer == "signal" and threading.current_thread() is not threading.main_thread():
        raise ValueError("timer='signal' works on the main thread only; use timer='thread'")
    errors = tuple(errors) if isinstance(errors, list | tuple) else (errors,)
    clean = bytes(clean)
    if reference is None:
        try:
            reference = decode(clean)
        except Exception as e:  # noqa: BLE001 - a harness set-up error, said plainly
            raise ValueError(f"the clean file does not decode ({type(e).__name__}: {e})") from None
    reference = np.asarray(reference)
    structured = _is_container(clean)
    notes = [] if structured else ["the clean bytes are not a valid container: raw/crc mutations only"]
    fams = [f for f in families if structured or f in ("raw", "crc")]
    counts: Counter = Counter()
    by_kind: Counter = Counter()
    examples: dict[str, Example] = {}
    stopped = ""
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=n_cases, desc="fuzz", unit="case", dynamic_ncols=True)
        except ImportError:
            bar = None
    t0 = time.perf_counter()
    try:
        for i in range(n_cases):
            mutation, data = make_case(clean, seed, i, fams, others)
            outcome, detail = classify(decode, data, clean, reference, errors, time_limit, timer)
            counts[outcome] += 1
            by_kind[(mutation.split(":", 1)[0], outcome)] += 1
            if outcome not in examples and outcome in BAD + ("clean-error",):
                examples[outcome] = Example(outcome, i, seed, mutation, detail, data, tuple(fams), bool(others))
            if bar is not None:
                bar.update(1)
            if outcome == "hang" and timer == "thread":
                stopped = (f"case {i} hung; its decode thread may still be running, so no further case was "
                           "started (timer='signal' interrupts hangs in Python code and goes on)")
                break
    finally:
        if bar is not None:
            bar.close()
    return Report(counts, examples, n_cases, time.perf_counter() - t0, seed, stopped, notes, by_kind)
