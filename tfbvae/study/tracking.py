"""How a run's KL followed its capacity schedule, from its training logs.

Burgess et al. 2018 (Understanding disentangling in beta-VAE, sec. 4) raise the capacity C
so that the KL tracks it; their advice to users of the reference implementation is to tune
gamma until it does (within about a nat). As C grows, latent dimensions switch on in groups
(on dSprites: the positions, then scale, then shape and orientation, their Fig. 4). These are
the two checks a capacity run's result rests on, so the study reports them per run:

* ``kl_minus_c``: the training KL minus C, averaged over the logged intervals of the last tenth
  of the run (nats; positive: above the target), and the largest ``|KL - C|`` of any interval
  after the first tenth (the start, when the model cannot yet encode anything, is left out);
* ``switch_on``: each latent dimension's first logged step with a KL above
  :data:`ACTIVE_NATS`, in the order they switched on (``None``: never).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tfbvae.training import run_dir as run_layout

ACTIVE_NATS = 0.1  # as tfbvae.evaluation.latent_factors: below this a latent carries (almost) nothing
Series = Sequence[tuple[int, float]]


def kl_minus_c(kl: Series, capacity: Series, steps: int) -> dict[str, float | None]:
    """The KL's distance to C over a run of ``steps`` steps (see the module docstring).

    Args:
        kl: ``(step, mean training KL of the interval)`` as logged.
        capacity: ``(step, mean C of the interval)`` as logged.
        steps: the run's step count (``--steps``).

    Returns:
        ``{"last_tenth_mean": ..., "max_abs_after_first_tenth": ...}`` in nats (``None`` when
        no interval falls in that part of the run).
    """
    c_at = dict(capacity)
    pairs = [(step, value - c_at[step]) for step, value in kl if step in c_at]
    last = [d for step, d in pairs if step > 0.9 * steps]
    later = [abs(d) for step, d in pairs if step > 0.1 * steps]
    return {
        "last_tenth_mean": sum(last) / len(last) if last else None,
        "max_abs_after_first_tenth": max(later) if later else None,
    }


def switch_on(kl_per_dim: dict[int, Series]) -> list[tuple[int, int | None]]:
    """``(latent, first step with KL > ACTIVE_NATS)`` for each latent, earliest first (latents
    that never switched on last, by index)."""
    first = {
        latent: next((step for step, value in series if value > ACTIVE_NATS), None)
        for latent, series in kl_per_dim.items()
    }
    return sorted(first.items(), key=lambda item: (item[1] is None, item[1] or 0, item[0]))


def total_kl(kl_per_dim: dict[int, Series]) -> list[tuple[int, float]]:
    """The KL summed over the latent dimensions at each step every dimension logged."""
    steps = set.intersection(*(set(dict(series)) for series in kl_per_dim.values()))
    by_dim = [dict(series) for series in kl_per_dim.values()]
    return [(step, sum(values[step] for values in by_dim)) for step in sorted(steps)]


def tracking_of_run(run_dir: Path, latent_dim: int, objective: str, steps: int) -> dict[str, Any]:
    """:func:`kl_minus_c` (runs whose ``objective`` uses C only: ``None`` otherwise) and
    :func:`switch_on` of a run, from its TensorBoard training logs; empty when it has logged
    nothing yet."""
    log_dir = run_layout.train_logs(run_dir)
    if not log_dir.is_dir():
        return {}
    from tfbvae.training.event_files import kl_history  # loads TensorFlow

    per_dim, capacity = kl_history(log_dir, latent_dim, objective)
    if not per_dim:
        return {}
    return {
        "kl_minus_c": kl_minus_c(total_kl(per_dim), capacity, steps) if capacity else None,
        "switch_on": switch_on(per_dim),
    }
