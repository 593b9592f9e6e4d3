"""Policy specs: one format for a stash policy, as a dict (files) and as a string (command line).

The dict is ``policy.config()``: ``{"policy": name, option: value, ...}`` with every option.
The string is a view of the same dict::

    spec    := name [":" drop] ("," key "=" value)*
    name    := a registered policy name or alias: "dense" | "zero_value" | "deferred_dropout"
               | "dd" (short for deferred_dropout) | "random_k" | ...
    layers  := "layers=" pattern ":" drop (";" pattern ":" drop)*

for example ``dense``, ``dd:0.9``,
``dd:0.9,granularity=row,value_dtype=bfloat16,selection=sample,seed=3``,
``dd:0.9,structure=block,block=128,layers=encoder.0.*:0.5;head:0``, ``dd,structure=nm,n=2,m=4``
``random_k:0.9,rescale`` (the drop rate of N:M is ``1 - n/m``).  Booleans are ``true``/``false``;
a boolean option written bare is switched on (``rescale`` is ``rescale=true``), which is how the
canonical string writes a boolean whose default is off.  ``drop=`` may also be
written as an option.  Every built-in policy takes ``lossless=`` (``none``, ``all`` or op names
joined by ``+``: ``dense,lossless=all``, ``dd:0.9,lossless=layer_norm+attention``; see
:data:`~minidd.stash.policies.LOSSLESS_OPS`).

:func:`format_spec` writes the canonical string: the full policy name, the drop rate, then only
the options that differ from their defaults, in ``config()`` order.  :func:`spec_key` is that
string, so ``dd:0.9`` and ``deferred_dropout:0.9,granularity=tensor`` key one run.

The table of names is open: a :class:`~minidd.stash.StashPolicy` subclass that sets ``name``
registers itself (``policies.REGISTRY``), and its ``config()`` options become its spec options.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping

from .policies import REGISTRY, StashPolicy


def _hint(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _policy_class(name, where: str) -> type:
    if not isinstance(name, str):
        raise TypeError(f"{where}: the policy name must be a str, got {name!r}")
    if name not in REGISTRY:
        names = tuple(REGISTRY)
        raise ValueError(f"{where}: unknown policy {name!r}{_hint(name, names)}; "
                         f"expected one of {names}")
    return REGISTRY[name]


def _names() -> tuple:
    """The registered policy names, aliases left out."""
    return tuple(k for k, cls in REGISTRY.items() if k == cls.name)


def _defaults(cls) -> dict:
    """The options of a policy class and their defaults: its default instance's config, and
    the options configs leave out while off (``lossless``, ``exact_ops``) with their defaults."""
    options = {k: v for k, v in cls().config().items() if k != "policy"}
    for name in OPTIONAL_OPTIONS:
        param = inspect.signature(cls).parameters.get(name)
        if param is not None:
            options.setdefault(name, param.default)
    return options


#: Options a config carries only when they are on.
OPTIONAL_OPTIONS = ("exact_ops", "lossless")


def from_config(config: Mapping) -> StashPolicy:
    """The policy a ``config()`` dict describes (missing options take their defaults).

    Unknown option names are refused with a did-you-mean; bad values with the constructor's
    error, which names the option.
    """
    if isinstance(config, StashPolicy) or not isinstance(config, Mapping):
        raise TypeError(f"from_config: config must be a dict like policy.config(), "
                        f"got {type(config).__name__}")
    if "policy" not in config:
        raise ValueError(f"from_config: config {dict(config)!r} has no 'policy' key "
                         f"(one of {_names()})")
    cls = _policy_class(config["policy"], "from_config")
    options = _defaults(cls)
    kwargs = {k: v for k, v in config.items() if k != "policy"}
    for key in kwargs:
        if key not in options:
            raise ValueError(f"from_config: {cls.name} has no option {key!r}{_hint(str(key), options)}"
                             + (f"; its options are {tuple(options)}" if options else "; it takes no options"))
    return cls(**kwargs)


def _parse_value(spec: str, key: str, text: str, default):
    where = f"policy spec {spec!r}: option {key!r}"
    if isinstance(default, bool):
        low = text.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ValueError(f"{where} takes true or false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{where} takes an integer, got {text!r}") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{where} takes a number, got {text!r}") from None
    if isinstance(default, dict):
        return _parse_layers(spec, text)
    return text


def _parse_layers(spec: str, text: str) -> dict:
    layers = {}
    for item in filter(None, (t.strip() for t in text.split(";"))):
        pattern, sep, drop = item.rpartition(":")
        if not sep or not pattern.strip():
            raise ValueError(f"policy spec {spec!r}: layers item {item!r} must be pattern:drop "
                             "(items separated by ';', e.g. layers=encoder.0.*:0.5;head:0)")
        try:
            layers[pattern.strip()] = float(drop)
        except ValueError:
            raise ValueError(f"policy spec {spec!r}: layers[{pattern.strip()!r}] takes a number, "
                             f"got {drop!r}") from None
    return layers


def parse_spec(text: str) -> StashPolicy:
    """The policy a spec string describes (see the module docstring for the grammar); a policy
    object is returned as it is, so callers may accept either."""
    if isinstance(text, StashPolicy):
        return text
    if not isinstance(text, str):
        raise TypeError(f"parse_spec: a policy spec must be a str such as 'dd:0.9', "
                        f"got {type(text).__name__}")
    if not text.strip():
        raise ValueError("parse_spec: empty policy spec; expected e.g. 'dense', 'zero_value' or 'dd:0.9'")
    head, *items = [t.strip() for t in text.split(",")]
    name, colon, drop = head.partition(":")
    cls = _policy_class(name.strip(), f"policy spec {text!r}")
    options = _defaults(cls)
    config = {"policy": cls.name}
    if colon:
        if "drop" not in options:
            raise ValueError(f"policy spec {text!r}: {cls.name} takes no drop rate")
        config["drop"] = _parse_value(text, "drop", drop.strip(), 0.0)
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq and isinstance(options.get(key), bool):
            eq, value = "=", "true"   # a bare boolean option is switched on: "random_k:0.9,rescale"
        if not eq or not key:
            raise ValueError(f"policy spec {text!r}: {item!r} must be key=value")
        if key not in options:
            raise ValueError(f"policy spec {text!r}: {cls.name} has no option {key!r}"
                             f"{_hint(key, options)}"
                             + (f"; its options are {tuple(options)}" if options else "; it takes no options"))
        if key in config:
            raise ValueError(f"policy spec {text!r}: option {key!r} is given twice")
        config[key] = _parse_value(text, key, value.strip(), options[key])
    try:
        return from_config(config)
    except (TypeError, ValueError) as e:
        raise type(e)(f"policy spec {text!r}: {e}") from None


def _format_number(x: float) -> str:
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def _format_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _format_number(value)
    if isinstance(value, dict):
        items = []
        for pattern, drop in value.items():
            if any(c in pattern for c in ",;=") or not pattern.strip() or pattern != pattern.strip():
                raise ValueError(f"format_spec: layers pattern {pattern!r} cannot be written in a "
                                 "spec string (it holds ',', ';' or '=', or is blank or padded); "
                                 "keep this policy as a config dict")
            items.append(f"{pattern}:{_format_number(drop)}")
        return ";".join(items)
    return str(value)


def as_policy(spec) -> StashPolicy:
    """The policy a spec string or a config dict describes; a policy is returned as it is."""
    if isinstance(spec, StashPolicy):
        return spec
    if isinstance(spec, Mapping):
        return from_config(spec)
    if isinstance(spec, str):
        return parse_spec(spec)
    raise TypeError(f"expected a policy, its config dict or a spec string, got {type(spec).__name__}")


def format_spec(spec) -> str:
    """The canonical spec string of a policy, a config dict or a spec string."""
    policy = as_policy(spec)
    config = policy.config()
    if config["policy"] not in REGISTRY:
        raise ValueError(f"format_spec: {policy!r} is not a registered policy (it cannot be "
                         "written as plain data); keep it as the object")
    defaults = _defaults(type(policy))
    out = config["policy"]
    if "drop" in config:
        out += ":" + _format_number(config["drop"])
    for key, value in config.items():
        if key in ("policy", "drop") or value == defaults.get(key):
            continue
        out += f",{key}" if value is True else f",{key}={_format_value(value)}"
    return out


def spec_key(spec) -> str:
    """The canonical key of a policy (a policy, config dict or spec string): equal policies,
    however written, have one key.  It is :func:`format_spec`'s string."""
    return format_spec(spec)
