"""The service's heap once it has started.

Start-up leaves a quarter of a million long-lived objects (the container, the adapters, the
in-process chain and its contracts). Python's cyclic garbage collector walks every one of them
on each full collection, and with the service's steady allocation a full collection comes every
few cycles: about 130 ms each on a 2-core machine, landing inside a decision cycle and setting
its p95 (docs/benchmarks.md). Nothing allocated at start-up is garbage later, so the service
hands those objects to `gc.freeze()` once it is up: later collections walk only what was made
since. Reference counting still frees whatever of them is released; only reference cycles among
the frozen objects stay until the process ends.
"""

from __future__ import annotations

import gc


def freeze_start_up_heap() -> int:
    """Collect once, then move every object now alive out of the collector's reach.

    Returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
