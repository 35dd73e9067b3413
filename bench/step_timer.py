"""Timing of one repeated unit of work for the side-by-side benchmarks' child processes (bench/gan_step.py,
bench/alphagan_iter.py); standard library only, so a process that imports a peer's packages can use it."""

import statistics
import time

#----------------------------------------------------------------------------

def time_steps(step, count):
    """One untimed call of `step` (allocator, first-call caches), then `count` timed ones: the median wall and CPU
    seconds (all threads) per call and every wall time. The CPU time moves less with the load of a shared machine."""
    step()
    times, cpu_times = [], []
    for _ in range(count):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return dict(seconds=statistics.median(times), all=times, cpu_seconds=statistics.median(cpu_times))

#----------------------------------------------------------------------------
