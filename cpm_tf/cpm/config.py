"""Parser for the original fjcommon config syntax (``ae_configs/*``, ``pc_configs/*``).

Syntax accepted (the subset the released configs use, same meaning as ``fjcommon.config_parser``):

* ``use <relative path>``  — inherit every definition of another config file (resolved relative to the
  including file); later definitions override earlier ones.
* ``constrain KEY :: A, B, C`` — the allowed values of KEY; the bare words A, B, C become strings.
* ``KEY = <python literal expression>`` — numbers, strings, tuples, ``True``/``False``/``None`` and
  arithmetic such as ``2*0.6``; a bare word allowed by a ``constrain`` line is that word as a string.
* ``# comments`` and blank lines.

Unknown keys are rejected by :func:`check_keys` with a message naming them.
"""

from __future__ import annotations

import ast
import operator
import os
from pathlib import Path
from types import SimpleNamespace


class ConfigError(ValueError):
    """A config file is missing, malformed, uses an unknown key or a value outside its constraint."""


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv}


def _eval(node, words, where):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e, words, where) for e in node.elts)
    if isinstance(node, ast.List):
        return [_eval(e, words, where) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, words, where)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left, words, where), _eval(node.right, words, where))
    if isinstance(node, ast.Name) and node.id in words:
        return node.id
    raise ConfigError(f"{where}: cannot evaluate {ast.dump(node)[:80]} (only literals, arithmetic and "
                      f"constrained words {sorted(words)} are allowed)")


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


def _parse_into(path: Path, values: dict, constraints: dict, seen: tuple) -> None:
    if path in seen:
        raise ConfigError(f"{path}: circular 'use'")
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        where = f"{path}:{lineno}"
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("use "):
            _parse_into((path.parent / line[4:].strip()).resolve(), values, constraints, seen + (path,))
        elif line.startswith("constrain "):
            key, sep, allowed = line[len("constrain "):].partition("::")
            if not sep:
                raise ConfigError(f"{where}: expected 'constrain KEY :: A, B'")
            constraints[key.strip()] = tuple(a.strip() for a in allowed.split(",") if a.strip())
        elif "=" in line:
            key, _, expr = line.partition("=")
            key = key.strip()
            if not key.isidentifier():
                raise ConfigError(f"{where}: invalid key {key!r}")
            try:
                tree = ast.parse(expr.strip(), mode="eval")
            except SyntaxError as e:
                raise ConfigError(f"{where}: cannot parse value {expr.strip()!r} ({e.msg})") from None
            words = set(constraints.get(key, ()))
            if isinstance(tree.body, ast.Name) and key in constraints and tree.body.id not in words:
                raise ConfigError(f"{where}: {key} = {tree.body.id} is not one of {constraints[key]}")
            value = _eval(tree.body, words, where)
            if key in constraints and value not in constraints[key]:
                raise ConfigError(f"{where}: {key} = {value!r} is not one of {constraints[key]}")
            values[key] = value
        else:
            raise ConfigError(f"{where}: cannot parse line {raw!r}")


def parse(path: str | os.PathLike) -> Config:
    """Parse a config file (following ``use`` chains) into a :class:`Config`."""
    path = Path(path).resolve()
    values: dict = {}
    _parse_into(path, values, {}, ())
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


def load_ae_config(path) -> Config:
    cfg = check_keys(parse(path), AE_KEYS, "autoencoder")
    if getattr(cfg, "arch", None) != "CVPR":
        raise ConfigError(f"{cfg._name}: arch {getattr(cfg, 'arch', None)!r} not implemented (only 'CVPR')")
    if not hasattr(cfg, "arch_param_n"):
        object.__setattr__(cfg, "arch_param_n", 128)
    return cfg


def load_pc_config(path) -> Config:
    cfg = check_keys(parse(path), PC_KEYS, "probclass")
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
