"""Offered load: ``rates`` (build_rate, arrivals), ``config`` (the ``[traffic]`` models,
durations), ``synthetic``, ``replay`` (traces), ``ticks`` (the tick grid, rescaling).

No names are re-exported: import each from the module that defines it.
"""
