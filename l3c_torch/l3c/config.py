"""The original ``.cf`` config files (fjcommon's format) and ``-p key=value`` overrides.

A ``.cf`` file holds ``key = python-literal`` lines (dotted keys such as ``enc.num_blocks``), ``#`` comments
and ``use other.cf`` lines that include another file first (relative to the including file). Overrides given
with ``-p key=value`` must name an existing key; an unknown key raises ``ValueError('Unused params ...')`` as
upstream's ``_print_unused_global_config`` did.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from shared_data.errors import ConfigError


def _parse_value(text: str, where: str):
    text = text.strip()
    if text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[text]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ConfigError(f"{where}: cannot parse value {text!r} (expected a Python literal)") from None


def _strip_comment(line: str) -> str:
    out, quote = [], None
    for ch in line:
        if quote:
            out.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "#":
            break
        else:
            out.append(ch)
    return "".join(out).strip()


def parse_cf(path: str | os.PathLike, _seen=None) -> dict:
    """Parse one ``.cf`` file (following ``use`` lines) into a flat ``{dotted_key: value}`` dict."""
    path = Path(path)
    seen = set() if _seen is None else _seen
    if path.resolve() in seen:
        raise ConfigError(f"{path}: circular 'use'")
    seen.add(path.resolve())
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    out: dict = {}
    for i, raw in enumerate(path.read_text().splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        where = f"{path}:{i}"
        if line.startswith("use "):
            out.update(parse_cf(path.parent / line[4:].strip(), seen))
            continue
        if "=" not in line:
            raise ConfigError(f"{where}: expected 'key = value', got {raw!r}")
        key, val = line.split("=", 1)
        out[key.strip()] = _parse_value(val, where)
    return out


def apply_overrides(cfg: dict, overrides: list[str] | None, *others: dict) -> list[str]:
    """Apply ``key=value`` strings to ``cfg`` (or the first of ``others`` holding the key).

    Returns the overrides as normalised ``key=value`` strings (used in the log-dir name). Raises
    ``ValueError('Unused params: ...')`` for keys that no config has.
    """
    applied, unused = [], []
    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"-p expects key=value, got {ov!r}")
        key, val = (s.strip() for s in ov.split("=", 1))
        try:
            value = ast.literal_eval(val)
        except (ValueError, SyntaxError):
            value = val  # bare strings such as lr.schedule=exp_0.75_e1, as fjcommon accepted
        for d in (cfg, *others):
            if key in d:
                d[key] = value
                applied.append(f"{key}={val}")
                break
        else:
            unused.append(key)
    if unused:
        raise ValueError(f"Unused params: {unused} (no config file defines these keys)")
    return applied


class Config:
    """Attribute access over a flat dotted-key dict: ``c.enc.num_blocks`` reads ``'enc.num_blocks'``."""

    def __init__(self, flat: dict, prefix: str = ""):
        object.__setattr__(self, "_flat", flat)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name):
        key = self._prefix + name
        if key in self._flat:
            return self._flat[key]
        if any(k.startswith(key + ".") for k in self._flat):
            return Config(self._flat, key + ".")
        raise AttributeError(f"config has no key {key!r}")

    def get(self, key, default=None):
        return self._flat.get(self._prefix + key, default)

    def to_dict(self) -> dict:
        return dict(self._flat)

    def canonical(self) -> str:
        """Canonical JSON text (sorted keys) used in the model fingerprint."""
        return json.dumps(self._flat, sort_keys=True, default=str)

    def __repr__(self):
        return f"Config({self._flat!r})"


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> Config:
    flat = parse_cf(path)
    apply_overrides(flat, overrides)
    return Config(flat)


def dump_cf(flat: dict) -> str:
    """Serialise a flat dict back to ``.cf`` text (used to store a run's resolved config)."""
    return "".join(f"{k} = {v!r}\n" for k, v in flat.items())
