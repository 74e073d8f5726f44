"""Memory figures as A1111's /sdapi/v1/memory reports them: the process's RAM, and CUDA's allocator when there is
a CUDA device. A figure that cannot be read is reported as {"error": ...} in its place, as A1111 does."""

from __future__ import annotations

import os
from typing import Any

import torch


def memory_report() -> dict[str, Any]:
    """A1111's MemoryResponse: the process's RAM, and CUDA's figures when there is a CUDA device."""
    try:
        import psutil

        process = psutil.Process(os.getpid())
        rss = process.memory_info().rss
        total = psutil.virtual_memory().total
        ram: dict[str, Any] = {"free": total - rss, "used": rss, "total": total}
    except Exception as exc:  # noqa: BLE001 - A1111 reports the error in the field rather than failing
        ram = {"error": str(exc)}
    try:
        if not torch.cuda.is_available():
            return {"ram": ram, "cuda": {"error": "unavailable"}}
        free, total = torch.cuda.mem_get_info()
        stats = torch.cuda.memory_stats()

        def pair(name: str) -> dict[str, int]:
            return {"current": stats.get(f"{name}.all.current", 0), "peak": stats.get(f"{name}.all.peak", 0)}

        cuda: dict[str, Any] = {
            "system": {"free": free, "used": total - free, "total": total}, "active": pair("active_bytes"),
            "allocated": pair("allocated_bytes"), "reserved": pair("reserved_bytes"),
            "inactive": pair("inactive_split_bytes"),
            "events": {"retries": stats.get("num_alloc_retries", 0), "oom": stats.get("num_ooms", 0)}}
    except Exception as exc:  # noqa: BLE001 - as above
        cuda = {"error": str(exc)}
    return {"ram": ram, "cuda": cuda}
