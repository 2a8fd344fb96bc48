"""shared_data.exact (fixed point, decimal tables) and shared_data.arith (config records, emulation, recovery)."""

import sys

import numpy as np
import pytest

from shared_data import arith, exact
from shared_data.container import ContainerError


def test_tables_are_correctly_rounded_values():
    t = exact.table("exp", -4, 0, 1, 16)  # exp(k/2) for k=-4..0
    assert t.tolist() == [round(np.exp(k / 2) * 65536) for k in range(-4, 1)]
    s = exact.table("sigmoid", -2, 2, 0, 15)
    assert s[2] == 1 << 14 and s[0] + s[4] == 1 << 15
    # a pinned entry: round(sigmoid(0.75) * 2**20) from a 40-digit computation
    assert exact.table("sigmoid", 3, 3, 2, 20)[0] == 712170


def test_rshift_round_is_exact_in_int_and_float():
    acc = np.array([-5, -4, -3, -1, 0, 1, 2, 3, 2**52 - 1], dtype=np.int64)
    a = exact.rshift_round(acc, 1)
    b = exact.rshift_round(acc.astype(np.float64), 1)
    assert a.tolist() == [int(np.floor(v / 2 + 0.5)) for v in acc.tolist()[:-1]] + [2**51]
    assert b.astype(np.int64).tolist() == a.tolist()


def test_softmax_weights_and_normalise():
    lq = np.array([[0, 256, -10_000], [5, 5, 5]])
    w = exact.softmax_weights(lq, in_frac=8, out_frac=16)
    assert w[0, 1] == 1 << 16 and w[0, 2] == 1 and w[1].tolist() == [65536] * 3
    p = exact.normalise(w)
    assert np.allclose(p.sum(axis=-1), 1) and p[1, 0] == 1 / 3


def test_bound_check_names_the_layer():
    w = exact.to_fixed(np.full((4, 100), 1.0), 20)
    b = exact.accumulator_bound(w, x_max=2**30)
    with pytest.raises(exact.IntegerizeError, match="layer 'probclass.conv0'"):
        exact.check_bound("probclass.conv0", b)
    assert exact.check_bound("ok", exact.accumulator_bound(w, x_max=2**10)) < 2**53


def test_pack_unpack_and_explain():
    cfg = arith.describe(torch_threads=1, torch_capability="AVX512")
    assert arith.unpack(arith.pack(cfg)) == cfg
    here = dict(cfg, torch_threads="2", torch_capability="AVX2")
    msg = arith.explain(cfg, here)
    assert "encoded with torch_capability=AVX512, torch_threads=1" in msg and "this decoder runs" in msg
    with pytest.raises(ContainerError, match="x.lic: corrupt arithmetic-config"):
        arith.unpack(b"no equals sign", path="x.lic")
    with pytest.raises(ContainerError, match="corrupt arithmetic-config"):
        arith.unpack(b"\xff=1")


def test_threads_policy(monkeypatch):
    monkeypatch.delenv("LIC_THREADS", raising=False)
    assert arith.threads(encoded=1) == 1
    assert 1 <= arith.threads() <= 2
    monkeypatch.setenv("LIC_THREADS", "3")
    assert arith.threads(encoded=1) == 3
    monkeypatch.setenv("LIC_THREADS", "zero")
    with pytest.raises(ValueError, match="LIC_THREADS"):
        arith.threads()


def test_env_for_removes_callers_settings():
    env = arith.env_for("aten-default", base={"OMP_NUM_THREADS": "7", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "ATEN_CPU_CAPABILITY": "default"}
    with pytest.raises(ValueError, match="unknown arithmetic emulation"):
        arith.env_for("nope")
    for enc, dec in arith.CROSS_PAIRS:
        assert enc in arith.EMULATIONS and dec in arith.EMULATIONS


def test_try_arithmetic_accepts_only_a_successful_decode(tmp_path):
    # a stand-in decoder that succeeds only under OPENBLAS_CORETYPE=Prescott
    script = ("import os, sys; ok = os.environ.get('OPENBLAS_CORETYPE') == 'Prescott'; "
              "open(sys.argv[1], 'wb').write(b'img' if ok else b''); "
              "sys.exit(0 if ok else print('error: pixel CRC mismatch', file=sys.stderr) or 1)")
    out = tmp_path / "rec.png"
    logs = []
    name = arith.try_arithmetic(lambda tmp: [sys.executable, "-c", script, tmp], out, log=logs.append)
    assert name == "blas-prescott" and out.read_bytes() == b"img" and "blas-prescott" in logs[0]
    out2 = tmp_path / "never.png"
    with pytest.raises(arith.RecoveryError, match="in.lic: no arithmetic configuration.*pixel CRC mismatch"):
        arith.try_arithmetic(lambda tmp: [sys.executable, "-c", "import sys; sys.exit('error: pixel CRC mismatch')"],
                             out2, emulations=["default", "threads-1"], in_path="in.lic")
    assert not out2.exists() and not list(tmp_path.glob(".try-arith-*"))
