"""Bounded memory (issue 17): ``python -m hific encode`` / ``decode`` refuse an image above the pixel limit up front
(the tests are shared: :mod:`shared_data.limits_tests`; the limits: ``shared_data.limits.DEFAULTS``). The 4K peak
RSS per codec is measured by ``bench.py --rss`` (root README, "Reliability")."""

from pathlib import Path

from shared_data import limits_tests

globals().update(limits_tests.make("hific", Path(__file__).resolve().parents[1]))
