"""The original configs (``ae_configs/*``, ``pc_configs/*``) read by the originals' own parser,
``fjcommon.config_parser`` (pinned ``fjcommon==0.2.12``; imgcomp-cvpr's ``train.py`` / ``val.py`` call
``config_parser.parse``), with a thin layer for what fjcommon lacks:

* every failure is a :class:`shared_data.errors.ConfigError` naming the file (fjcommon raises bare
  ``SyntaxError`` / ``ValueError`` / ``NameError`` / ``ConstraintViolationException`` without it);
* values are data: before fjcommon evaluates a file (it calls ``eval`` on each value), the layer refuses any
  expression other than literals, arithmetic and names (no calls, attributes or subscripts), and afterwards
  any value that is not a number, string, bool, None or a tuple / list / dict of them;
* unknown keys are refused, naming them (:func:`check_keys`, :data:`AE_KEYS`, :data:`PC_KEYS`);
* ``KEY=VALUE`` overrides (``--set``), applied after the file by fjcommon's own statement evaluator.

fjcommon's syntax (its module docstring): an optional ``use <relative path>`` on the **first line** (that file
is parsed first; later definitions override), ``constrain KEY :: A, B`` (bare words A, B become strings),
``KEY = <python expression>`` (may name earlier keys; multi-line with brackets; ``$ENV$`` substituted) and
``#`` comment lines.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from types import SimpleNamespace

from fjcommon import config_parser as _fjc

from shared_data.errors import ConfigError

#: AST nodes a config value may contain: literals, containers, names (earlier keys, constrained words) and
#: arithmetic. Anything else (calls, attributes, subscripts, lambdas, comprehensions) is refused unevaluated.
_SAFE_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.Name, ast.Load,
               ast.UnaryOp, ast.UAdd, ast.USub, ast.Not, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
               ast.FloorDiv, ast.Mod, ast.Pow)
_FJC_ERRORS = (SyntaxError, ValueError, NameError, TypeError, ArithmeticError, OSError, RecursionError,
               _fjc.ConstraintViolationException)


class Config(SimpleNamespace):
    """Parsed config: attribute access like the original (``config.num_chan_bn``) plus provenance."""

    def __init__(self, values: dict, name: str, text: str):
        super().__init__(**values)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_text", text)

    def values(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def canonical(self) -> str:
        """Canonical text of the effective values (sorted ``key = repr``), used in model fingerprints."""
        return "\n".join(f"{k} = {v!r}" for k, v in sorted(self.values().items()))


def _check_expr(expr: str, where: str) -> set[str]:
    """Refuse a value that is not data; returns the names it uses."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise ConfigError(f"{where}: cannot parse value {expr.strip()!r} ({e.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _SAFE_NODES) or (isinstance(node, ast.Name) and node.id.startswith("_")):
            raise ConfigError(f"{where}: value {expr.strip()!r} is not data ({type(node).__name__} not allowed: "
                              "only literals, arithmetic and names of keys or constrained words)")
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _check_data(value, key: str, where: str) -> None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (tuple, list, set)):
        for v in value:
            _check_data(v, key, where)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_data(k, key, where)
            _check_data(v, key, where)
        return
    raise ConfigError(f"{where}: {key} = {value!r} is not a number, string, bool, None or a container of them")


def _check_file(path: Path, seen: tuple[Path, ...], found: list) -> None:
    """What fjcommon would misread or run, refused before it reads ``path`` and its ``use`` chain; appends
    (file, key, value, names used) of every statement to ``found`` in fjcommon's evaluation order."""
    if path in seen:
        raise ConfigError(f"{path}: circular 'use' ({' -> '.join(str(p) for p in seen + (path,))})")
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file" + (f" (used by {seen[-1]})" if seen else ""))
    try:
        lines = path.read_text().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    body = lines
    if "use" in lines[0]:  # fjcommon's own test for an include line
        if not re.match(r"^use\s+\S", lines[0]):
            raise ConfigError(f"{path}:1: the first line contains 'use' but is not a `use PATH` line "
                              "(fjcommon would read it as one)")
        # fjcommon's path: the line with every 'use' removed, relative to this file's folder
        _check_file(Path(os.path.join(path.parent, lines[0].replace("use", "").strip())).resolve(), seen + (path,),
                    found)
        body = lines[1:]
    try:
        statements = list(_fjc._merge_multiline_statements(body))
    except SyntaxError as e:
        raise ConfigError(f"{path}: {e}") from None
    for s in statements:
        if not s or s.startswith("#"):
            continue
        if re.match(r"^use\s", s):
            raise ConfigError(f"{path}: {s!r}: `use` must be the first line of a config file (fjcommon's syntax)")
        if _fjc._PAT_CONSTRAIN.match(s):
            continue
        m = _fjc._PAT_PARAM.match(s)
        if not m:
            raise ConfigError(f"{path}: cannot parse line {s!r} (expected KEY = VALUE, constrain KEY :: A, B, "
                              "or a comment)")
        try:
            expr = _fjc._eval_envs(m.group(2))
        except SyntaxError as e:
            raise ConfigError(f"{path}: {m.group(1)}: {e}") from None
        found.append((path, m.group(1), expr.strip(), _check_expr(expr, f"{path}: {m.group(1)}")))


def parse_override(text: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` -> (KEY, VALUE); :class:`ConfigError` for anything else."""
    key, sep, value = str(text).partition("=")
    if not sep or not key.strip().isidentifier() or not value.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def parse(path: str | os.PathLike, overrides=()) -> Config:
    """Parse a config file (following its ``use`` chain) with ``fjcommon.config_parser.parse``, then apply
    ``overrides`` (``"KEY=VALUE"`` strings, evaluated as config lines) into a :class:`Config`."""
    path = Path(path).resolve()
    statements: list = []
    _check_file(path, (), statements)
    try:
        cfg, _ = _fjc.parse(str(path))
    except NameError as e:  # fjcommon does not say where: the first statement using the name
        hit = next(((f, k, v) for f, k, v, names in statements if e.name in names), None)
        if hit is None:
            raise ConfigError(f"{path}: {e}") from None
        f, k, v = hit
        raise ConfigError(f"{path}: {k} = {v}{'' if f == path else f' (in {f})'}: name {e.name!r} is neither an "
                          "earlier key nor a constrained word") from None
    except _FJC_ERRORS as e:
        raise ConfigError(f"{path}: {type(e).__name__}: {e}") from None
    for text in overrides:
        key, value = parse_override(text)
        where = f"{path}: --set {text}"
        _check_expr(value, where)
        try:
            _fjc._update_config(cfg, [f"{key} = {value}"])
        except _FJC_ERRORS as e:
            raise ConfigError(f"{where}: {type(e).__name__}: {e}") from None
    values = dict(cfg.all_params_and_values())
    for k, v in values.items():
        _check_data(v, k, str(path))
    return Config(values, name=str(path), text=path.read_text())


#: Keys the original autoencoder configs define; ``arch_param_n`` is this re-implementation's one extension
#: (the original hard-codes n = 128 as a module constant) and defaults to 128.
AE_KEYS = frozenset("""num_chan_bn regularization_factor normalization heatmap beta train_autoencoder
train_probclass arch distortion_to_minimize K_psnr K_ms_ssim centers_initial_range num_centers
regularization_factor_centers H_target crop_size batch_size lr_initial lr_centers_factor optimizer
optimizer_momentum lr_schedule lr_schedule_decay_interval lr_schedule_decay_rate lr_schedule_decay_staircase
arch_param_B arch_param_n""".split())
PC_KEYS = frozenset("""arch kernel_size lr_initial optimizer optimizer_momentum lr_schedule
lr_schedule_decay_interval lr_schedule_decay_rate lr_schedule_decay_staircase arch_param__k
arch_param__non_linearity arch_param__fc regularization_factor learn_pad_var use_centers_for_padding""".split())


def check_keys(cfg: Config, allowed: frozenset, kind: str) -> Config:
    unknown = sorted(set(cfg.values()) - allowed)
    if unknown:
        raise ConfigError(f"{cfg._name}: unknown {kind} config key(s) {unknown}")
    return cfg


def load_ae_config(path, overrides=()) -> Config:
    cfg = check_keys(parse(path, overrides), AE_KEYS, "autoencoder")
    if getattr(cfg, "arch", None) != "CVPR":
        raise ConfigError(f"{cfg._name}: arch {getattr(cfg, 'arch', None)!r} not implemented (only 'CVPR')")
    if not hasattr(cfg, "arch_param_n"):
        object.__setattr__(cfg, "arch_param_n", 128)
    return cfg


def load_pc_config(path, overrides=()) -> Config:
    cfg = check_keys(parse(path, overrides), PC_KEYS, "probclass")
    if getattr(cfg, "arch", None) != "res_shallow":
        raise ConfigError(f"{cfg._name}: arch {getattr(cfg, 'arch', None)!r} not implemented "
                          "(only 'res_shallow')")
    return cfg


def short_name(path: str | os.PathLike, root: str) -> str:
    """``ae_configs/cvpr/low`` -> ``cvpr/low`` (the part used in log dir names)."""
    p = Path(path).resolve()
    base = Path(__file__).resolve().parent.parent / root
    try:
        return str(p.relative_to(base))
    except ValueError:
        return p.name


__all__ = ["Config", "ConfigError", "parse", "parse_override", "check_keys", "load_ae_config", "load_pc_config",
           "short_name", "AE_KEYS", "PC_KEYS"]
