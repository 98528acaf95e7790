"""Fargate task sizes and prices.

Prices and billing rules: the AWS Fargate pricing page, https://aws.amazon.com/fargate/pricing/
(us-east-1, Linux; "from the time you start to download your container image until the
Amazon ECS Task ... terminates, rounded up to the nearest second", with a one-minute minimum
for Linux tasks). Valid sizes: the Fargate CPU and memory table of the ECS developer guide,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Valid memory values (MiB) for each CPU value (CPU units), per the Fargate size matrix.
VALID_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

#: On-demand prices, us-east-1 Linux: (USD per vCPU-hour, USD per GB-hour).
ON_DEMAND_PRICES: dict[str, tuple[float, float]] = {
    "x86_64": (0.04048, 0.004445),
    "arm64": (0.03238, 0.00356),
}

#: Default Fargate Spot discount off on-demand: the pricing page's "up to a 70% discount off
#: the regular Fargate price" (the actual Spot price varies).
DEFAULT_SPOT_DISCOUNT = 0.70

#: Billing minimum per task (Linux): one minute (AWS Fargate pricing page).
MINIMUM_BILLED_SECONDS = 60.0

ARCHES = tuple(ON_DEMAND_PRICES)


class TaskSizeError(ValueError):
    """An invalid Fargate CPU/memory combination or architecture."""


def validate_task_size(cpu: int, memory: int) -> None:
    """Refuse a CPU/memory pair that Fargate rejects; the message lists the valid values."""
    if cpu not in VALID_SIZES:
        raise TaskSizeError(
            f"cpu={cpu} is not a Fargate CPU value; valid CPU units: {sorted(VALID_SIZES)}"
        )
    valid = VALID_SIZES[cpu]
    if memory not in valid:
        raise TaskSizeError(
            f"memory={memory} MiB is not valid with cpu={cpu}; valid memory values (MiB) "
            f"for cpu={cpu}: {', '.join(str(m) for m in valid)}"
        )


@dataclass(frozen=True)
class TaskSize:
    """A validated Fargate task size."""

    cpu: int
    memory: int
    arch: str = "x86_64"

    def __post_init__(self) -> None:
        validate_task_size(self.cpu, self.memory)
        if self.arch not in ON_DEMAND_PRICES:
            raise TaskSizeError(f"arch={self.arch!r} is not valid; valid: {list(ARCHES)}")

    @property
    def vcpu(self) -> float:
        return self.cpu / 1024.0

    @property
    def memory_gb(self) -> float:
        return self.memory / 1024.0

    def hourly_price(
        self, spot: bool = False, spot_discount: float = DEFAULT_SPOT_DISCOUNT
    ) -> float:
        """USD per task-hour, on-demand or Spot."""
        per_vcpu, per_gb = ON_DEMAND_PRICES[self.arch]
        price = self.vcpu * per_vcpu + self.memory_gb * per_gb
        return price * (1.0 - spot_discount) if spot else price

    def price_per_second(
        self, spot: bool = False, spot_discount: float = DEFAULT_SPOT_DISCOUNT
    ) -> float:
        return self.hourly_price(spot, spot_discount) / 3600.0


def billed_seconds(start: float, stop: float, minimum: float = MINIMUM_BILLED_SECONDS) -> float:
    """Seconds billed for a task that started its image pull at ``start`` and stopped at
    ``stop``: rounded up to the next whole second, and at least ``minimum`` (the one-minute
    minimum; pass 0 for a task cut off by the end of a run, not stopped)."""
    # A 1e-9 s tolerance keeps float noise (86400.000000001) from adding a second.
    return max(minimum, float(math.ceil(stop - start - 1e-9)))
