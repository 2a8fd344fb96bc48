"""The repository is licensed and citable: LICENSE is Apache-2.0 (no original code is in the tree) and
CITATION.cff is valid YAML naming this project and all five re-implemented papers."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PAPERS = (
    "Conditional Probability Models for Deep Image Compression",
    "Improving Inference for Neural Image Compression",
    "Practical Full Resolution Learned Lossless Image Compression",
    "High-Fidelity Generative Image Compression",
    "Compressing Images by Encoding Their Latent Representations with Relative Entropy Coding",
)


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_citation_cff_names_project_and_papers():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "Apache-2.0" and cff["title"]
    titles = [r["title"] for r in cff["references"]]
    for p in PAPERS:
        assert p in titles, f"CITATION.cff lacks {p!r}"
    for r in cff["references"]:
        assert r["authors"] and r["year"] >= 2018
