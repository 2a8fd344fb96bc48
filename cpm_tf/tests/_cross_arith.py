"""Batch driver for the cross-arithmetic test: ``python tests/_cross_arith.py JOB.json`` (run under an
emulation by ``shared_data.arith.run``), so one process (one TF start) encodes or decodes many files.

JOB: ``{"model": DIR|null, "encode": {"images": [PNG...], "out": DIR} | null,
"decode": [{"lic": PATH, "out": PREFIX}...]}``. Encode writes ``OUT/{stem}.{p,f}.lic`` (portable format 3 /
float format 2) and ``OUT/{stem}.{p,f}.npz`` (the encoder's symbols and the reconstruction computed here);
decode writes ``PREFIX.npz`` (decoded symbols, reconstruction) or ``PREFIX.err`` (the one-line error).
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    from cpm.codec import DEFAULT_MODEL, load_codec
    from cpm.tfsetup import limit_threads
    limit_threads()
    import numpy as np

    from shared_data import container as cont
    from shared_data.imageio import read_image
    codec = load_codec(job.get("model") or DEFAULT_MODEL)
    enc = job.get("encode")
    if enc:
        out = Path(enc["out"])
        out.mkdir(parents=True, exist_ok=True)
        for p in enc["images"]:
            img = read_image(p)
            for tag, portable in (("p", True), ("f", False)):
                c, res = codec.encode_array(img, portable=portable)
                cont.write(out / f"{Path(p).stem}.{tag}.lic", c)
                np.savez(out / f"{Path(p).stem}.{tag}.npz", symbols=res.symbols,
                         rec=codec.reconstruct(res.symbols))
    for d in job.get("decode", []):
        prefix = Path(d["out"])
        prefix.parent.mkdir(parents=True, exist_ok=True)
        try:
            c = cont.read(d["lic"], codec="cpm")
            _, rec, symbols = codec.decode_container(c, d["lic"])
            np.savez(str(prefix) + ".npz", symbols=symbols, rec=rec)
        except cont.ContainerError as e:
            Path(str(prefix) + ".err").write_text(str(e) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
