"""The original ``.cf`` config files, read by the originals' own parser, ``fjcommon.config_parser``
(``fjcommon==0.2.12``, pinned), plus the little it lacks.

fjcommon's syntax: ``key = python-expression`` lines (dotted keys such as ``enc.num_blocks``; an expression
may use the keys defined above it and span lines inside brackets), ``#`` comments, ``$VAR$`` for
environment variables, ``constrain key :: A, B``, and ``use other.cf`` **on the first line** to read another
file first (relative to this one). This layer adds:

* one-line :class:`shared_data.errors.ConfigError` naming the file for anything fjcommon refuses or would
  misread: a ``use`` below the first line (fjcommon reads it only there), a first line that merely contains
  the word ``use`` (fjcommon's test is a substring test), circular ``use``, a value that is not an
  expression of literals, operators and earlier keys (fjcommon ``eval``-uates values: a call, attribute or
  subscript is refused before it runs, so a model directory's config cannot execute code), an unknown
  environment variable, a missing file;
* ``-p key=value`` overrides that must name a key of one of the configs (:func:`apply_overrides`; an unknown
  key raises ``ConfigError('Unused params ...')`` as upstream's ``_print_unused_global_config`` did);
* :class:`Config` (dotted attribute access over the flat dict) and :func:`dump_cf` (a run's resolved config).
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from shared_data.errors import ConfigError

#: AST nodes a config value may contain (literals, containers, arithmetic/boolean operators, earlier keys).
_SAFE_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.UnaryOp, ast.BinOp,
               ast.BoolOp, ast.Compare, ast.Name, ast.Load, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


def _fj():
    try:
        from fjcommon import config_parser
    except ImportError:  # pragma: no cover - pinned in requirements.txt
        raise ConfigError("the .cf parser needs fjcommon==0.2.12 (l3c_torch/requirements.txt; make setup-l3c)") from None
    return config_parser


def _check_file(path: Path, seen: tuple[Path, ...] = ()) -> None:
    """Refuse what fjcommon would refuse with a traceback or silently misread (see the module docstring)."""
    fj = _fj()
    real = path.resolve()
    if real in seen:
        raise ConfigError(f"{path}: circular 'use' ({' -> '.join(str(p) for p in (*seen, real))})")
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        lines = path.read_text().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: unreadable config file ({e})") from None
    body = lines
    if "use" in lines[0]:
        first = lines[0].strip()
        if not first.startswith("use ") or "use" in first[4:]:
            raise ConfigError(f"{path}:1: fjcommon reads a first line containing 'use' as 'use FILE' (and drops every "
                              f"'use' in it): {lines[0]!r}; put comments below the first line")
        used = path.parent / first[4:].strip()
        if not used.is_file():
            raise ConfigError(f"{path}:1: {first!r}: no such config file {used}")
        _check_file(used, (*seen, real))
        body = lines[1:]
    for i, line in enumerate(lines[1:], 2):
        if line.strip().startswith("use ") or line.strip() == "use":
            raise ConfigError(f"{path}:{i}: 'use' must be the first line of the file (fjcommon's rule)")
    try:
        statements = list(fj._merge_multiline_statements(body))  # fjcommon's own statement splitting
    except SyntaxError as e:
        raise ConfigError(f"{path}: {e}") from None
    for st in statements:
        if not st or st.startswith("#") or fj._PAT_CONSTRAIN.match(st):
            continue
        m = fj._PAT_PARAM.match(st)
        if not m:
            raise ConfigError(f"{path}: expected 'key = value', got {st!r}")
        try:
            text = fj._eval_envs(m.group(2))
        except SyntaxError as e:
            raise ConfigError(f"{path}: {m.group(1)}: {e}") from None
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            raise ConfigError(f"{path}: {m.group(1)}: cannot parse value {text.strip()!r}") from None
        bad = next((type(n).__name__ for n in ast.walk(tree) if not isinstance(n, _SAFE_NODES)), None)
        if bad or any(isinstance(n, ast.Name) and n.id.startswith("__") for n in ast.walk(tree)):
            raise ConfigError(f"{path}: {m.group(1)}: value {text.strip()!r} is not an expression of literals and "
                              f"earlier keys ({bad or 'dunder name'} refused; fjcommon would evaluate it)")


def parse_cf(path: str | os.PathLike) -> dict:
    """Parse one ``.cf`` file (following its ``use`` line) with fjcommon into a flat ``{dotted_key: value}``
    dict in definition order (the keys of a used file first). ``ConfigError`` naming the file otherwise."""
    path = Path(path)
    _check_file(path)
    fj = _fj()
    try:
        cfg, _ = fj.parse(str(path))
    except Exception as e:  # fjcommon raises SyntaxError, ValueError, NameError, ConstraintViolationException ...
        raise ConfigError(f"{path}: {type(e).__name__}: {e}") from None
    return {k: v for k, v in vars(cfg).items() if k != "_constraints"}


def apply_overrides(cfg: dict, overrides: list[str] | None, *others: dict) -> list[str]:
    """Apply ``key=value`` strings to ``cfg`` (or the first of ``others`` holding the key).

    Returns the overrides as normalised ``key=value`` strings (used in the log-dir name). Raises
    ``ConfigError('Unused params: ...')`` for keys that no config has.
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
        raise ConfigError(f"Unused params: {unused} (no config file defines these keys)")
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


def dump_cf(flat: dict, note: str | None = None) -> str:
    """Serialise a flat dict back to ``.cf`` text (a run's resolved config): a fixed first comment line (fjcommon
    takes a first line containing "use" for an include), then one ``key = repr(value)`` line per key, then
    ``note`` as a comment (brackets, which fjcommon's statement splitter counts even in comments, dropped)."""
    text = "# l3c resolved config\n" + "".join(f"{k} = {v!r}\n" for k, v in flat.items())
    if note:
        text += "# " + note.replace("\n", " ").translate({ord(c): None for c in "()[]{}"}) + "\n"
    return text
