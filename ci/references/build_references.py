"""Rebuild ci/references/{cpm,sga,l3c,hific,irec}.csv from the reference survey (run once; output is committed).

Sources (nothing here is computed or guessed; every number is copied from the survey, which cites the
original repository file or paper table for it):
- ``../shared/reference/cpm.md`` §1, §11 (imgcomp-cvpr README: A/B/C points, ``CVPR_FIG1``; plotter.py:
  ``_RIPPEL_KODAK``), the 28 Fig. 1 points typed from ``fab-jul/imgcomp-cvpr:README.md``;
- ``../shared/reference/published/sga_{kodak,tecnick}.csv`` (results/*/…-psnr.csv of the II repo);
- ``../shared/reference/l3c.md`` §10 (v1 README table, Open Images);
- ``../shared/reference/hific.md`` §6.1 (TF models/hific/data.csv) and §6.3 (NeuralCompression results.csv);
- ``../shared/reference/published/irec.csv`` (RE README table; EPS-digitized lossy curves).

Usage: ``python ci/references/build_references.py [--shared ../shared/reference]`` (from the repo root).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
from pathlib import Path

COLUMNS = ["paper", "dataset", "curve", "method", "config", "lambda", "lambda_status", "image",
           "bpp", "bpp_kind", "bpsp", "bpd", "bpd_asymptotic", "psnr", "msssim", "msssim_db",
           "fid", "kid", "niqe", "lpips", "status", "source", "notes"]

HERE = Path(__file__).resolve().parent

CPM_ABC = [  # (point, model id, ae config, bpp, MS-SSIM): imgcomp-cvpr README.md
    ("A", "0515_1103", "ae_configs/cvpr/low + pc_configs/cvpr/res_shallow", "0.370", "0.975"),
    ("B", "0515_1309", "ae_configs/cvpr/med + pc_configs/cvpr/res_shallow", "0.677", "0.987"),
    ("C", "0515_1310", "ae_configs/cvpr/hi + pc_configs/cvpr/res_shallow", "1.051", "0.992"),
]
CVPR_FIG1 = [  # imgcomp-cvpr README.md "CVPR_FIG1" (bpp -> MS-SSIM on Kodak), 28 points
    ("0.1265306", "0.9289356"), ("0.1530612", "0.9417454"), ("0.1795918", "0.9497924"),
    ("0.2061224", "0.9553684"), ("0.2326531", "0.9598574"), ("0.2591837", "0.9636625"),
    ("0.2857143", "0.9668663"), ("0.3122449", "0.9695684"), ("0.3387755", "0.9718446"),
    ("0.3653061", "0.9738012"), ("0.3918367", "0.9755308"), ("0.4183673", "0.9770696"),
    ("0.4448980", "0.9784622"), ("0.4714286", "0.9797252"), ("0.4979592", "0.9808753"),
    ("0.5244898", "0.9819255"), ("0.5510204", "0.9828875"), ("0.5775510", "0.9837722"),
    ("0.6040816", "0.9845877"), ("0.6306122", "0.9853407"), ("0.6571429", "0.9860362"),
    ("0.6836735", "0.9866768"), ("0.7102041", "0.9872690"), ("0.7367347", "0.9878184"),
    ("0.7632653", "0.9883268"), ("0.7897959", "0.9887977"), ("0.8163265", "0.9892346"),
    ("0.8428571", "0.9896379"),
]
RIPPEL_KODAK = [  # imgcomp-cvpr code/plotter.py _RIPPEL_KODAK (transcribed by the CPM authors)
    ("0.095", "0.92"), ("0.14", "0.94"), ("0.2", "0.956"), ("0.3", "0.97"), ("0.4", "0.9783"),
    ("0.5", "0.983"), ("0.6", "0.9858"), ("0.7", "0.988"), ("0.8", "0.9897"), ("0.9", "0.9914"),
    ("1.0", "0.9923"), ("1.1", "0.9935"), ("1.2", "0.994"), ("1.3", "0.9946"), ("1.4", "0.9954"),
]
L3C_OPENIMAGES = [  # l3c.md §10: v1 README table (model, released code bpsp, camera-ready bpsp)
    ("L3C", "0524_0001", "2.578", "2.604"),
    ("RGB Shared", "0524_0002", "2.948", "2.918"),
    ("RGB", "0524_0003", "2.832", "2.819"),
]
HIFIC = [  # hific.md §6.1 = TF models/hific/data.csv: dataset, regime, bpp, FID, KID, NIQE, LPIPS, MS-SSIM, PSNR
    ("clic2020", "Lo", "0.129", "4.20", "1.08e-3", "9.38", "0.054", "0.955", "30.87"),
    ("clic2020", "Mi", "0.250", "2.38", "5.4e-4", "9.28", "0.035", "0.974", "32.94"),
    ("clic2020", "Hi", "0.374", "1.67", "3.6e-4", "8.69", "0.025", "0.982", "34.60"),
    ("div2k", "Lo", "0.173", "9.97", "1.20e-3", "9.47", "0.061", "0.952", "28.49"),
    ("div2k", "Mi", "0.324", "5.84", "5.4e-4", "9.37", "0.039", "0.971", "30.60"),
    ("div2k", "Hi", "0.490", "3.95", "2.4e-4", "8.82", "0.026", "0.981", "32.47"),
    ("kodak", "Lo", "0.183", "", "", "11.27", "0.069", "0.937", "27.56"),
    ("kodak", "Mi", "0.351", "", "", "11.87", "0.043", "0.964", "29.65"),
    ("kodak", "Hi", "0.538", "", "", "10.94", "0.028", "0.978", "31.74"),
]
HIFIC_TARGETS = {"Lo": "0.14", "Mi": "0.30", "Hi": "0.45"}


def _row(**kw) -> dict:
    unknown = set(kw) - set(COLUMNS)
    if unknown:
        raise KeyError(unknown)
    return {c: kw.get(c, "") for c in COLUMNS}


def cpm_rows() -> list[dict]:
    rows = []
    for pt, mid, cfg, b, m in CPM_ABC:
        rows.append(_row(paper="cpm", dataset="kodak", curve="readme_ABC", method="CPM", config=f"{pt} {mid}",
                         lambda_status="n/a", bpp=b,
                         bpp_kind="estimated (inferred: val.py default bpp is the cross-entropy estimate)",
                         msssim=m, status="published",
                         source="fab-jul/imgcomp-cvpr:README.md (Inference: points A/B/C)",
                         notes=f"released checkpoint {mid}; {cfg}; NumPy MS-SSIM on padded uint8 images"))
    for i, (b, m) in enumerate(CVPR_FIG1, 1):
        rows.append(_row(paper="cpm", dataset="kodak", curve="cvpr_fig1", method="CPM", config=f"fig1 point {i}",
                         lambda_status="n/a", bpp=b,
                         bpp_kind="estimated (inferred: paper reports the cross-entropy bpp)", msssim=m,
                         status="published (resampled curve, bpp grid step ~0.0265)",
                         source="fab-jul/imgcomp-cvpr:README.md CVPR_FIG1 (= code/plotter.py)",
                         notes="curve of 'our model' in paper Fig. 1, Kodak, bpp -> MS-SSIM"))
    for i, (b, m) in enumerate(RIPPEL_KODAK, 1):
        rows.append(_row(paper="cpm", dataset="kodak", curve="rippel_bourdev_2017", method="Rippel & Bourdev 2017",
                         config=f"point {i}", lambda_status="n/a", bpp=b, bpp_kind="unknown", msssim=m,
                         status="transcribed by the CPM authors from Rippel & Bourdev's paper",
                         source="fab-jul/imgcomp-cvpr:code/plotter.py _RIPPEL_KODAK",
                         notes="competitor curve, not a CPM result"))
    return rows


def sga_rows(shared: Path) -> list[dict]:
    rows = []
    ids = {"Base Hyperprior": "M3_base", "SGA + BB": "M2_sga_bb", "SGA (M1": "M1_sga"}
    for ds, fname in (("kodak", "sga_kodak.csv"), ("tecnick", "sga_tecnick.csv")):
        with open(shared / "published" / fname, newline="") as f:
            for r in csv.DictReader(f):
                curve = next(v for k, v in ids.items() if r["method"].startswith(k))
                rows.append(_row(paper="sga", dataset=ds, curve=curve, method=r["method"],
                                 config=f"num_filters={r['num_filters']}", **{"lambda": r["lambda"]},
                                 lambda_status="inferred (" + r["lambda_status"].removeprefix("INFERRED: ") + ")",
                                 bpp=r["bpp"], bpp_kind=r["bpp_type"], psnr=r["psnr"], msssim=r["msssim"],
                                 status="published", source=f"{r['source_file']} row {r['row_in_file']} "
                                 f"@ {r['source_commit']}", notes=f"{r['dataset']}; {r['notes']}"))
    return rows


def l3c_rows() -> list[dict]:
    rows = []
    for model, mid, released, camera in L3C_OPENIMAGES:
        for curve, val, src in (("released_code", released, "Released code"),
                                ("camera_ready", camera, "Camera Ready")):
            rows.append(_row(paper="l3c", dataset="openimages", curve=curve, method=model,
                             config=f"{model} (v1 'old data'; model id {mid} inferred by order)", lambda_status="n/a", bpsp=val,
                             bpp_kind="estimated (theoretical bpsp of test.py, not file sizes)",
                             status="published",
                             source=f"fab-jul/L3C-PyTorch:README.md v1 table column '{src}' "
                                    "(git show d64df6c:README.md; HTML comment in v3 README)",
                             notes="Open Images test set, old preprocessing; paper Table 1 (other datasets) "
                                   "not in the repository"))
    return rows


def hific_rows() -> list[dict]:
    rows = []
    for ds, reg, b, fid, kid, niqe, lp, ms, ps in HIFIC:
        rows.append(_row(paper="hific", dataset=ds, curve="hific", method="HiFiC", config=reg,
                         lambda_status="n/a", bpp=b,
                         bpp_kind="real (inferred: tfci range-coded bitstreams)", psnr=ps, msssim=ms,
                         fid=fid, kid=kid, niqe=niqe, lpips=lp, status="published",
                         source="tensorflow/compression:models/hific/data.csv (paper Figs 4, A10, A11)",
                         notes=f"target rate r_t={HIFIC_TARGETS[reg]} on the training set; FID/KID = FID/256 "
                               "patch protocol" + ("; Kodak too small for FID" if ds == "kodak" else "")))
    nc = "facebookresearch/NeuralCompression:projects/illm/results.csv"
    rows.append(_row(paper="hific", dataset="clic2020", curve="nc_nogan_hific", method="No-GAN HiFiC autoencoder",
                     config="NC point", lambda_status="n/a", bpp="0.120", bpp_kind="real", psnr="31.99",
                     msssim="0.962", fid="6.56", lpips="0.047", status="published", source=nc,
                     notes="stage-1 (no GAN) reference from NeuralCompression"))
    rows.append(_row(paper="hific", dataset="kodak", curve="nc_nogan_hific", method="No-GAN HiFiC autoencoder",
                     config="NC point", lambda_status="n/a", bpp="0.153", bpp_kind="real", psnr="28.61",
                     status="published", source=nc, notes="stage-1 (no GAN) reference from NeuralCompression"))
    rows.append(_row(paper="hific", dataset="clic2020", curve="nc_ms_illm", method="MS-ILLM", config="NC point",
                     lambda_status="n/a", bpp="0.121", bpp_kind="real", psnr="30.87", fid="2.65",
                     status="published", source=nc, notes="MS-ILLM on the HiFiC architecture (not HiFiC)"))
    return rows


def _irec_curve(r: dict) -> str:
    if r["section"] == "lossless_single_image":
        return "lossless_" + re.sub(r"[^a-z0-9]+", "_", r["method"].lower()).strip("_")
    model = "mse" if "MSE" in r["method"] else "msssim"
    kind = "actual" if r["kind"].startswith("actual") else "ideal"
    per = "_per_image" if r["section"] == "lossy_kodak_per_image" else ""
    return f"lossy_{model}_{kind}{per}"


def irec_rows(shared: Path) -> list[dict]:
    rows = []
    with open(shared / "published" / "irec.csv", newline="") as f:
        for r in csv.DictReader(f):
            ds = r["dataset"].split(" ")[0]
            m = re.search(r"beta\(lambda\)=([0-9.]+)", r["config"])
            lossy = r["section"].startswith("lossy")
            if lossy:
                kind = ("real (.rec file size incl. header)" if r["kind"].startswith("actual")
                        else "estimated (KL / (#px ln 2))")
            else:
                kind = "n/a"
            reported = not r["kind"].startswith("not reported")
            rows.append(_row(paper="irec", dataset=ds, curve=_irec_curve(r), method=r["method"], config=r["config"],
                             **{"lambda": m.group(1) if m else ""},
                             lambda_status=("inferred (beta <-> point mapping by point order)" if m else "n/a"),
                             image=r["image"], bpp=r["bpp"], bpp_kind=kind, bpd=r["bpd_single_image"],
                             bpd_asymptotic=r["bpd_asymptotic"], psnr=r["psnr"], msssim=r["msssim"],
                             msssim_db=r["msssim_db"],
                             status=("digitized from EPS vector plots" if lossy else
                                     "published" if reported else "not reported"),
                             source=r["source"], notes="; ".join(x for x in (r["kind"], r["notes"]) if x)))
    return rows


def write(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=HERE.parents[2] / "shared" / "reference")
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args(argv)
    if not (a.shared / "published").is_dir():
        print(f"error: {a.shared}/published not found (pass --shared)", file=sys.stderr)
        return 2
    for paper, rows in (("cpm", cpm_rows()), ("sga", sga_rows(a.shared)), ("l3c", l3c_rows()),
                        ("hific", hific_rows()), ("irec", irec_rows(a.shared))):
        write(a.out / f"{paper}.csv", rows)
        print(f"{paper}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
