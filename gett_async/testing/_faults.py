"""Seeded fault injection: which fault (if any) a request gets, and its latency."""

from __future__ import annotations

import random
from typing import Any

import attrs

#: Fault kinds in the order their probabilities are stacked on one random draw.
FAULT_KINDS: tuple[str, ...] = (
    "error_500",
    "error_502",
    "error_503",
    "error_429",
    "drop_before",
    "drop_after",
)


def _probability(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _as_latency(value: Any) -> float | tuple[float, float]:
    if isinstance(value, (tuple, list)):
        low, high = value
        return (float(low), float(high))
    return float(value)


def _latency(instance: Any, attribute: attrs.Attribute[Any], value: float | tuple[float, float]) -> None:
    low, high = value if isinstance(value, tuple) else (value, value)
    if not 0.0 <= low <= high:
        raise ValueError(f"latency must be seconds >= 0 or a (min, max) range, got {value!r}")


@attrs.frozen(slots=True)
class FaultConfig:
    """Probabilities of injected faults per eligible request (their sum must not exceed 1).

    ``drop_before`` closes the connection without applying the request; ``drop_after``
    applies it and then closes the connection, so the client never learns it succeeded.
    ``latency`` is seconds, or a ``(min, max)`` range drawn uniformly, added to each
    eligible request. ``fault_retry_after`` is the ``retryAfter`` of injected 429 and 503.
    With ``writes_only`` (the default) reads are never faulted.
    """

    error_500: float = attrs.field(default=0.0, validator=_probability)
    error_502: float = attrs.field(default=0.0, validator=_probability)
    error_503: float = attrs.field(default=0.0, validator=_probability)
    error_429: float = attrs.field(default=0.0, validator=_probability)
    drop_before: float = attrs.field(default=0.0, validator=_probability)
    drop_after: float = attrs.field(default=0.0, validator=_probability)
    latency: float | tuple[float, float] = attrs.field(default=0.0, converter=_as_latency, validator=_latency)
    fault_retry_after: float = 0
    writes_only: bool = True

    @classmethod
    def spread(cls, rate: float, **options: Any) -> FaultConfig:
        """``rate`` of eligible requests faulted, split evenly over every fault kind."""
        shares: dict[str, Any] = {kind: rate / len(FAULT_KINDS) for kind in FAULT_KINDS}
        return cls(**shares, **options)

    def __attrs_post_init__(self) -> None:
        total = sum(getattr(self, kind) for kind in FAULT_KINDS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total}, more than 1")
        if self.fault_retry_after < 0:
            raise ValueError("fault_retry_after must be >= 0")


class FaultInjector:
    """Draws faults from one ``random.Random(seed)``: the same seed and the same request
    sequence give the same faults."""

    __slots__ = ("_bounds", "_config", "_rng")

    def __init__(self, config: FaultConfig, seed: int | None) -> None:
        self._config = config
        self._rng = random.Random(seed)
        # Cumulative upper bounds, so one draw picks at most one fault.
        bounds: list[tuple[float, str]] = []
        total = 0.0
        for kind in FAULT_KINDS:
            probability = getattr(config, kind)
            if probability > 0:
                total += probability
                bounds.append((total, kind))
        self._bounds = tuple(bounds)

    @property
    def config(self) -> FaultConfig:
        """The configuration in force."""
        return self._config

    def applies_to(self, is_write: bool) -> bool:
        """Whether requests of this kind are eligible for faults at all."""
        return is_write or not self._config.writes_only

    def draw(self) -> str | None:
        """The fault kind for one eligible request, or None."""
        if not self._bounds:
            return None
        roll = self._rng.random()
        for bound, kind in self._bounds:
            if roll < bound:
                return kind
        return None

    def delay(self) -> float:
        """Seconds of latency for one eligible request."""
        latency = self._config.latency
        if isinstance(latency, tuple):
            low, high = latency
            return self._rng.uniform(low, high) if high > 0 else 0.0
        return float(latency)
