"""Timing helpers shared by the benchmark scripts: interleaved repeats, medians, ratios."""
from __future__ import annotations

import multiprocessing
import statistics
import time


def median_times(fns: dict, repeats: int = 15, warmup: int = 2, clock=time.perf_counter) -> dict:
    """Median wall time (seconds) of each zero-argument callable, measured interleaved so that
    the machine's drift affects every contender alike.  ``clock=time.process_time`` measures
    CPU time instead (steadier on a shared machine, for single-threaded work)."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = clock()
            f()
            samples[k].append(clock() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


def _serve(conn, make_steps, contender):
    """Worker loop: ``make_steps(contender)`` gives {task: Step}; answer the parent's requests."""
    steps = make_steps(contender)
    conn.send(sorted(steps))
    while True:
        request = conn.recv()
        if request is None:
            return
        kind, task, n = request
        if kind == "check":
            conn.send(steps[task].check())
        else:
            t, c = time.perf_counter(), time.process_time()
            for _ in range(n):
                steps[task].step()
            conn.send(((time.perf_counter() - t) / n, (time.process_time() - c) / n))


class ProcessPool:
    """One process per contender, each building its own steps with ``make_steps(contender)``
    (a module-level function: the processes are spawned, not forked)."""

    def __init__(self, make_steps, contenders):
        ctx = multiprocessing.get_context("spawn")
        self.conns, self.procs, self.tasks = {}, [], {}
        for c in contenders:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_serve, args=(child, make_steps, c), daemon=True)
            p.start()
            self.conns[c], self.procs = parent, self.procs + [p]
        for c, conn in self.conns.items():
            self.tasks[c] = conn.recv()

    def ask(self, contender, kind, task, n=1):
        self.conns[contender].send((kind, task, n))
        return self.conns[contender].recv()

    def interleaved_medians(self, tasks, rounds, steps_per_round, warmup=2):
        """Median (wall, CPU) seconds per step of every (task, contender): in each round every
        contender runs ``steps_per_round`` steps of each task in turn (the order rotates between
        rounds) while the others wait, so drift in the machine's load falls on all of them
        alike.  CPU time (the process's user + system time) is the steadier figure on a shared
        machine: it leaves out the time spent waiting for a core."""
        contenders = list(self.conns)
        for task in tasks:
            for c in contenders:
                if task in self.tasks[c]:
                    self.ask(c, "time", task, warmup)
        samples = {}
        for r in range(rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for task in tasks:
                for c in order:
                    if task in self.tasks[c]:
                        samples.setdefault((task, c), []).append(self.ask(c, "time", task, steps_per_round))
        return {k: tuple(statistics.median(x) for x in zip(*v)) for k, v in samples.items()}

    def close(self):
        for conn in self.conns.values():
            conn.send(None)
        for p in self.procs:
            p.join(timeout=30)
