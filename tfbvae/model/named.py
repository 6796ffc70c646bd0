"""Building one of several named parts (a likelihood, an objective, a network) from its name,
so that every registry refuses an unknown name the same way."""

from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

Built = TypeVar("Built")


def build_named(registry: Mapping[str, Callable[..., Built]], kind: str, name: str,
                *args: Any, **kwargs: Any) -> Built:
    """``registry[name](*args, **kwargs)``.

    Args:
        registry: the choices, by name.
        kind: what they are, for the message (``"likelihood"``).
        name: the one to build.
        *args, **kwargs: its arguments.

    Returns:
        The built part.

    Raises:
        ValueError: ``name`` is not in ``registry``; the message lists the choices.
    """
    if name not in registry:
        raise ValueError(f"Unknown {kind} {name!r}: choose one of {sorted(registry)}.")
    return registry[name](*args, **kwargs)
