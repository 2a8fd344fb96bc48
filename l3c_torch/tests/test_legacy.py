"""The stream layouts of the first releases (:mod:`l3c.legacy`) still decode: the committed files
``tests/golden/legacy/*.lic``, all of the 5x6 ``smooth_image(seed=42)`` with the seed-0 ``cr_mini`` net
(formats 1-3) or zoo/mini (format 4 with the machine-specific arithmetic record of issue 15)."""
import sys

import numpy as np
import pytest
from conftest import ROOT, smooth_image
from l3c.coding import check_model, decode_container, read_header

from shared_data import arith
from shared_data.container import unpack

LEGACY = ROOT / "tests" / "golden" / "legacy"
FLOAT_FILES = ("5x6_f1.lic", "5x6_f2.lic", "5x6_f3.lic", "5x6_f3_nocrc.lic")


def _cpu_vendor() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def test_legacy_float_files_decode():
    """Formats 1, 2, 3 and a 6-field (no pixel CRC) format-3 header, written before the arithmetic record with
    torch's AVX2 kernels and 2 threads on an AVX2 AMD EPYC, decode exactly in a fresh process under those kernels
    (``ATEN_CPU_CAPABILITY=avx2``) on AMD EPYC CPUs (measured: AVX2 and AVX-512 Zen 4). Their float network is not
    portable (the reason for the integer path of issue 15): on an AVX-512 Xeon (AMX) oneDNN's float kernels give
    other last bits even under ``ATEN_CPU_CAPABILITY=avx2`` / ``ONEDNN_MAX_CPU_ISA=AVX2``; there each file must be
    refused with the library's one-line error (pixel CRC, or the entropy decoder) — never a wrong image, except
    that the no-CRC header cannot detect one (reported)."""
    for name in FLOAT_FILES:
        assert (LEGACY / name).is_file(), f"legacy golden file {LEGACY / name} is missing"
    if arith.isa() not in ("avx2", "avx512"):
        pytest.skip(f"the legacy files need torch's AVX2 kernels; this CPU is {arith.isa()}")
    script = ("import numpy as np; from conftest import make_net, smooth_image;"
              "from l3c.coding import decode_container, read_header; from shared_data.container import unpack;"
              "from shared_data.errors import LicError\n"
              "net, fp = make_net('cr_mini', seed=0); img = smooth_image(5, 6, seed=42)\n"
              f"for name in {FLOAT_FILES!r}:\n"
              "    try:\n"
              f"        c = unpack(open({str(LEGACY)!r} + '/' + name, 'rb').read(), 'l3c', fp)\n"
              "        out, _, _ = decode_container(net, c)\n"
              "    except LicError as e:\n"
              "        print(name, 'refused', str(e).replace(chr(10), ' ')); continue\n"
              "    print(name, 'exact' if np.array_equal(out, img) else 'WRONG', read_header(c)['format'],"
              " read_header(c)['crc'])")
    r = arith.run([sys.executable, "-c", script], {"ATEN_CPU_CAPABILITY": "avx2", "LIC_THREADS": "2"},
                  cwd=ROOT / "tests")
    assert r.returncode == 0, r.stderr
    rows = {ln.split()[0]: ln.split()[1:] for ln in r.stdout.strip().split("\n") if ln.strip()}
    assert set(rows) == set(FLOAT_FILES), r.stdout
    print(f"legacy float files on {_cpu_vendor()} / {arith.isa()}:", {k: v[0] for k, v in rows.items()})
    if _cpu_vendor() == "AuthenticAMD":
        assert [rows[n][0] for n in FLOAT_FILES] == ["exact"] * 4, r.stdout
        assert [rows[n][1] for n in FLOAT_FILES] == ["1", "2", "3", "3"] and rows["5x6_f3_nocrc.lic"][2] == "None"
    for name in FLOAT_FILES:
        if rows[name][0] == "refused":
            assert "mismatch" in " ".join(rows[name]) or "entropy decoder failed" in " ".join(rows[name]), rows[name]
        elif name != "5x6_f3_nocrc.lic":
            assert rows[name][0] == "exact", f"{name}: decoded to a wrong image without an error: {r.stdout}"


def test_format4_file_with_machine_record_decodes():
    """A format-4 file of issue 15 (its arithmetic record names the machine; new files record only the path
    and constriction's version) decodes exactly here, in-process (the integer path does not depend on it)."""
    from l3c.model_io import load_model

    net, fp, _ = load_model()
    c = unpack((LEGACY / "5x6_f4_machine_record.lic").read_bytes(), "l3c")
    assert read_header(c)["format"] == 4
    check_model(net, c, fp)
    np.testing.assert_array_equal(decode_container(net, c)[0], smooth_image(5, 6, seed=42))
