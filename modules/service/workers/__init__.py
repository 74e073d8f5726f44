"""Generation workers on Ray: several devices and machines behind the one fair job queue.

Nothing here imports ray at import time: only `--workers` / `--ray-address` start it (runtime.start_workers).
- `modules/engine/worker.py`: what a worker runs (engine generation on its device, its own model cache).
- `pool.py`: the head's side: the workers it knows, routing by the models they hold, faults and retries.
- `runtime.py`: starting or joining the Ray runtime.
"""
