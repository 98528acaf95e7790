"""Request-level referee for the fluid/queueing model, built on ``ciw``.

``ciw`` is an independent, published discrete-event queueing simulator; its sample
statistics converge to the M/M/k formulas in ``sim.queueing`` (Palmer, Knight, Harper
and Hawa, "Ciw: An open-source discrete event simulation library", Journal of Simulation
13(1), 2019; https://github.com/CiwPython/Ciw).  This is a plain module (not a test file) so any
test can reuse it::

    from ciw_referee import ciw_response_times   # tests/sim is on sys.path under pytest

(pytest's default "prepend" import mode puts a test file's directory on ``sys.path``
because ``tests/sim`` has no ``__init__.py``.)
"""

from __future__ import annotations

import ciw
import numpy as np


def ciw_response_times(
    lam: float,
    mu: float,
    k: int,
    duration: float,
    warmup: float,
    seed: int,
    *,
    drain: float | None = None,
) -> np.ndarray:
    """Simulate one M/M/k queue in ciw and return per-request response times.

    Poisson arrivals at rate ``lam``, exponential service at rate ``mu`` per server,
    ``k`` servers, FIFO, unbounded queue.  Returns ``waiting_time + service_time`` for
    every request that ARRIVED in ``[warmup, duration)``, in arrival order.

    To avoid censoring (dropping the slow requests still in the system at the end), the
    simulation runs on until ``duration + drain``; by default ``drain`` is 30 mean
    service-plus-relaxation times, ``30 (1/mu + 1/(k mu - lam))``, for a stable queue,
    and 0 otherwise (then requests unfinished at ``duration`` are missing: results for
    an overloaded queue are censored).

    Seeding uses ``ciw.seed(seed)``, which reseeds Python's and numpy's GLOBAL random
    generators; the result is reproducible for a given ``seed`` and ciw version.
    """
    if drain is None:
        drain = 30.0 * (1.0 / mu + 1.0 / (k * mu - lam)) if lam < k * mu else 0.0
    ciw.seed(seed)  # before building: some ciw distributions sample when they are built
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam)],
        service_distributions=[ciw.dists.Exponential(rate=mu)],
        number_of_servers=[k],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(duration + drain)
    records = sim.get_all_records()
    arrival = np.fromiter((r.arrival_date for r in records), float, len(records))
    response = np.fromiter((r.waiting_time + r.service_time for r in records), float, len(records))
    keep = (arrival >= warmup) & (arrival < duration)
    order = np.argsort(arrival[keep], kind="stable")
    return response[keep][order]
