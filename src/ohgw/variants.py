"""Variants of a study: what differs between the arms compared on one scheduler and benchmark.

A variant is written as ``name[:key=value,...]``: ``baseline``, ``ohgw``, ``ohgw-3step``,
``random-warm``, then any warm-start option (``eta_h``, ``steps``, ``objective``,
``inner_steps``, ``held_out``, ``first_order``, ``mode``, ``grad_batches``) and ``noise`` (the
benchmark's label or token noise rate). ``ohgw:eta_h=3e-4`` is the paper's sweep;
``baseline:noise=0.15`` and ``ohgw:noise=0.15`` its robustness pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from ohgw.trial import WarmStartSettings

BUILTIN = {
    "baseline": WarmStartSettings(mode="none"),
    "ohgw": WarmStartSettings(mode="gradient", eta_h=1e-3, steps=1),
    "ohgw-3step": WarmStartSettings(mode="gradient", eta_h=1e-3, steps=3),
    "random-warm": WarmStartSettings(mode="random", eta_h=1e-3, steps=1),
}
_CASTS = {
    "eta_h": float,
    "steps": int,
    "inner_steps": int,
    "grad_batches": int,
    "objective": str,
    "mode": str,
}
_FLAGS = ("held_out", "first_order")


@dataclass(frozen=True)
class Variant:
    """One arm of a study: its label, warm-start settings and data noise."""

    label: str
    warm_start: WarmStartSettings
    noise: float = 0.0

    def benchmark_options(self, options: Mapping[str, Any], noise_option: str) -> dict[str, Any]:
        """The study's benchmark options with this variant's noise (under ``noise_option``)."""
        out = dict(options)
        if self.noise:
            out[noise_option] = self.noise
        return out


def parse_variant(text: str) -> Variant:
    """``"ohgw:eta_h=3e-4,noise=0.15"`` -> a ``Variant``; a ``ValueError`` names a bad part."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"A variant must be a non-empty string, got {text!r}.")
    name, _, options = text.strip().partition(":")
    if name not in BUILTIN:
        raise ValueError(f"Unknown variant {name!r}; known: {sorted(BUILTIN)}.")
    settings: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in options.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"The variant option {part!r} of {text!r} must be key=value.")
        settings[key] = _parse_option(key, value, text)
    noise = settings.pop("noise", 0.0)
    return Variant(text.strip(), replace(BUILTIN[name], **settings), noise)


def _parse_option(key: str, value: str, text: str) -> Any:
    known = sorted([*_CASTS, *_FLAGS, "noise"])
    if key not in known:
        raise ValueError(f"Unknown variant option `{key}` in {text!r}; known: {known}.")
    bad = ValueError(f"The value of `{key}` in variant {text!r} is {value!r}.")
    if key in _FLAGS:
        if value.lower() not in ("true", "false"):
            raise bad
        return value.lower() == "true"
    try:
        parsed = float(value) if key == "noise" else _CASTS[key](value)
    except ValueError:
        raise bad from None
    if key == "noise" and not 0 <= parsed < 1:
        raise bad
    return parsed
