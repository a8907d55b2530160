"""How the benchmarks time things: interleaved batches, timeit-style.

Each implementation is first calibrated (timeit's autorange: raise the number of calls until
one batch takes at least `min_batch` seconds; this doubles as warm-up; slow functions, timed
one call per batch, are warmed up by the caller's correctness check instead). Then, round after
round, every implementation runs one batch, so slow drift of the machine (another process,
frequency changes) hits all of them alike; the order is reversed every other round so none
always runs first. A sample is the batch time divided by its number of calls.

The reported time is the minimum over rounds: noise on a shared machine only ever adds time,
so the minimum is the best estimate of what the code itself costs (timeit's advice). The
median is kept too, as a noise indicator. The garbage collector stays on, as it would be in a
training loop (the engine allocates many small objects; that cost is real).

The clock is the process's CPU time by default, not the wall clock: everything runs on one
thread, so on an idle machine the two agree, but on a shared one (other processes, more
runnable threads than cores) the wall clock also counts the time this process waited for a
core, which has nothing to do with the code measured. `use_clock("wall")` switches.
"""
import resource
import statistics
import time
from dataclasses import dataclass, field

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
_clock = CLOCKS["cpu"]


def use_clock(name):
    """Time with "cpu" (process CPU time, the default) or "wall" (time.perf_counter)."""
    global _clock
    _clock = CLOCKS[name]


def time_batch(fn, number):
    """Seconds for `number` calls of fn()."""
    return _timed_batch(fn, number)[0]


def _timed_batch(fn, number):
    """(seconds, minor page faults) for `number` calls of fn()."""
    calls = range(number)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = _clock()
    for _ in calls:
        fn()
    elapsed = _clock() - start
    return elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def autorange(fn, min_batch):
    """The number of calls (1, 2, 5, 10, 20, 50, ...) for which one batch takes at least
    `min_batch` seconds, as timeit.Timer.autorange. With min_batch <= 0, 1 without a call
    (for slow functions, already warmed up by the caller)."""
    if min_batch <= 0:
        return 1
    number = 1
    while True:
        for factor in (1, 2, 5):
            n = number * factor
            if time_batch(fn, n) >= min_batch:
                return n
        number *= 10


@dataclass
class Samples:
    """Per-call times (seconds) of one implementation, one per round, and the minor page
    faults per call in each round (touching memory the process had not used yet)."""
    number: int
    times: list = field(default_factory=list)
    faults: list = field(default_factory=list)

    @property
    def faults_per_call(self):
        return statistics.median(self.faults) if self.faults else None

    @property
    def best(self):
        return min(self.times)

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def spread(self):
        """(median - min) / min: how noisy the rounds were (None from a single round)."""
        return self.median / self.best - 1 if len(self.times) > 1 else None


def interleaved(fns, rounds, min_batch):
    """Time each of `fns` (name -> zero-argument callable) in interleaved batches.

    Returns name -> Samples. With a slow fn (one call already longer than min_batch) each
    batch is a single call, so `rounds` is the number of calls measured.
    """
    samples = {name: Samples(autorange(fn, min_batch)) for name, fn in fns.items()}
    names = list(fns)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            s = samples[name]
            seconds, faults = _timed_batch(fns[name], s.number)
            s.times.append(seconds / s.number)
            s.faults.append(faults / s.number)
    return samples


def fmt_time(seconds):
    """A time with a unit that keeps 3 significant digits: 12.3 µs, 9.41 ms, 0.327 s."""
    for scale, unit in ((1e-6, "µs"), (1e-3, "ms"), (1, "s")):
        value = seconds / scale
        if value < 999.5 or unit == "s":
            return f"{_sig3(value)} {unit}"


def _sig3(value):
    decimals = 0 if value >= 99.95 else 1 if value >= 9.995 else 2
    return f"{value:.{decimals}f}"
