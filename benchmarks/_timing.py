"""Shared benchmark machinery: worker subprocesses, interleaved windows, CPU-noise detection.

Each contender (tfbvae, the PyTorch reference, a variant of either) runs in its own persistent
worker process, and the contenders take turns window by window, so that neither's thread pool
competes with the other's and slow drifts of the machine (thermal, other tenants) hit both
alike. A window in which processes other than the benchmark's own used the CPU is detected from
``/proc/stat`` (all busy time) minus ``/proc/<pid>/stat`` (the benchmark's own), then repeated;
if it stays noisy it is kept and flagged.

Workers speak JSON lines: the parent writes one command per line to the worker's stdin, the
worker answers one line on a private copy of its stdout (its fd 1 goes to stderr, so library
chatter cannot corrupt the protocol).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Iterable, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
NUM_CPUS = os.cpu_count() or 1
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- CPU noise ---------------------------------------------------------------------------------
def _busy_jiffies() -> int | None:
    """Busy time of all CPUs since boot (user, nice, system, irq, softirq, steal), in ticks.

    Steal counts as busy: time the hypervisor gave to another guest is lost to us as surely as
    time another process used.
    """
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return user + nice + system + irq + softirq + steal


def _process_jiffies(pid: int) -> int:
    """CPU time (user + system, all threads) of one process, in ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name (field 2) may hold spaces: split after its closing parenthesis.
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


@dataclasses.dataclass
class CpuSnapshot:
    wall: float
    busy: int | None
    own: int


class NoiseMeter:
    """Share of the machine's CPU capacity used by *other* processes during a window.

    ``share = (busy - own) / (wall * cpus * ticks_per_second)``: 0 on a quiet machine, 1 if
    other processes kept every CPU busy. ``own`` covers this process and ``pids`` (workers).
    Without ``/proc`` (not Linux) the share is unknown (None) and nothing is flagged.
    """

    def __init__(self, pids: Iterable[int] = ()):
        self.pids = set(pids) | {os.getpid()}

    def snapshot(self) -> CpuSnapshot:
        return CpuSnapshot(
            time.perf_counter(), _busy_jiffies(), sum(_process_jiffies(p) for p in self.pids)
        )

    @staticmethod
    def other_share(before: CpuSnapshot, after: CpuSnapshot) -> float | None:
        if before.busy is None or after.busy is None:
            return None
        capacity = (after.wall - before.wall) * NUM_CPUS * CLOCK_TICKS
        other = (after.busy - before.busy) - (after.own - before.own)
        return max(0.0, other / capacity) if capacity > 0 else None


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def configure_tensorflow_devices(tf, device: str) -> None:
    """``cpu``: hide the GPUs; ``gpu``: let TensorFlow's GPU memory grow on demand instead of
    taking it all, so that a PyTorch worker can share the device."""
    if device == "cpu":
        tf.config.set_visible_devices([], "GPU")
        return
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        raise RuntimeError("--device gpu, but TensorFlow sees no GPU (install tensorflow[and-cuda]).")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)


# -- worker processes --------------------------------------------------------------------------
class WorkerError(RuntimeError):
    pass


class Worker:
    """Parent-side handle on a worker subprocess that answers JSON-line commands."""

    def __init__(self, name: str, argv: Sequence[str], env: dict | None = None):
        self.name = name
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("PYTHONPATH", REPO)
        if REPO not in full_env["PYTHONPATH"].split(os.pathsep):
            full_env["PYTHONPATH"] = REPO + os.pathsep + full_env["PYTHONPATH"]
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=full_env,
            text=True,
            bufsize=1,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def call(self, command: str, **kwargs) -> dict:
        """Sends a command and waits for its answer."""
        try:
            self.process.stdin.write(json.dumps({"command": command, **kwargs}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # reported below with the exit code
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise WorkerError(f"worker {self.name!r} exited with code {code} (its stderr is above)")
        answer = json.loads(line)
        if "error" in answer:
            raise WorkerError(f"worker {self.name!r} failed on {command!r}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("exit")
            except (WorkerError, OSError, ValueError):
                pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Channel:
    """Worker-side end of the protocol: commands from stdin, answers on a private stdout."""

    def __init__(self):
        self._out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)  # anything else printed goes to stderr
        sys.stdout = sys.stderr

    def receive(self) -> dict:
        line = sys.stdin.readline()
        if not line:  # the parent is gone: nothing left to answer or to save
            os._exit(0)
        return json.loads(line)

    def send(self, answer: dict) -> None:
        self._out.write(json.dumps(answer) + "\n")

    def close(self) -> None:
        """Ends the worker at once: TensorFlow's thread pools can stall a normal shutdown."""
        self._out.flush()
        sys.stderr.flush()
        os._exit(0)


def serve(handlers: dict[str, Callable[..., dict]], channel: Channel | None = None) -> None:
    """Worker main loop: runs ``handlers[command](**arguments)`` until an ``exit`` command."""
    channel = channel or Channel()
    while True:
        message = channel.receive()
        command = message.pop("command")
        if command == "exit":
            channel.send({})
            channel.close()
        try:
            channel.send(handlers[command](**message))
        except Exception as e:  # reported to the parent, which stops with the message
            channel.send({"error": f"{type(e).__name__}: {e}"})
            raise


def window_handlers(
    step: Callable[[], object],
    items_per_step: int,
    window_seconds: float,
    warmup_steps: int,
    sync: Callable[[], object] = lambda: None,
) -> dict[str, Callable[..., dict]]:
    """``setup`` and ``run`` handlers of a worker whose unit of work is ``step()``.

    ``setup`` runs one step (allocation, tracing), times ``warmup_steps`` more and fixes the
    number of steps per window to last about ``window_seconds``; ``run`` times one window.
    ``sync()`` waits for queued device work (GPUs) before a clock is read.
    """
    state = {}

    def steps(n: int) -> float:
        sync()
        start = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        return time.perf_counter() - start

    def setup() -> dict:
        steps(1)
        step_seconds = steps(warmup_steps) / warmup_steps
        state["window_steps"] = max(1, round(window_seconds / step_seconds))
        return {"step_seconds": step_seconds, "window_steps": state["window_steps"]}

    def run() -> dict:
        n = state["window_steps"]
        return {"items": n * items_per_step, "seconds": steps(n)}

    return {"setup": setup, "run": run}


# -- interleaved windows -----------------------------------------------------------------------
@dataclasses.dataclass
class Window:
    items: float  # images (or whatever is counted) processed in the window
    seconds: float
    other_cpu: float | None  # share of the machine used by other processes
    noisy: bool
    tries: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def measure_window(
    worker: Worker,
    meter: NoiseMeter,
    command: str = "run",
    noise_threshold: float = 0.05,
    max_tries: int = 3,
    **kwargs,
) -> Window:
    """One window of ``worker``; repeated (up to ``max_tries``) while others used the CPU."""
    for tries in range(1, max_tries + 1):
        before = meter.snapshot()
        answer = worker.call(command, **kwargs)
        share = meter.other_share(before, meter.snapshot())
        noisy = share is not None and share > noise_threshold
        if not noisy:
            break
    return Window(answer["items"], answer["seconds"], share, noisy, tries)


def interleave(
    workers: Sequence[Worker],
    windows: int,
    noise_threshold: float = 0.05,
    max_tries: int = 3,
    command: str = "run",
    log: Callable[[str], None] | None = None,
    **kwargs,
) -> dict[str, list[Window]]:
    """``windows`` rounds; in each, every worker runs one window, in alternating order (ABBA)
    so that neither contender always follows the other."""
    meter = NoiseMeter(w.pid for w in workers)
    results: dict[str, list[Window]] = {w.name: [] for w in workers}
    for i in range(windows):
        order = list(workers) if i % 2 == 0 else list(reversed(workers))
        for worker in order:
            window = measure_window(worker, meter, command, noise_threshold, max_tries, **kwargs)
            results[worker.name].append(window)
            if log:
                flag = " NOISY" if window.noisy else ""
                other = "n/a" if window.other_cpu is None else f"{100 * window.other_cpu:.0f}%"
                log(
                    f"  window {i + 1}/{windows} {worker.name:>24}: {window.rate:9.1f}/s "
                    f"(others {other} of CPU, try {window.tries}){flag}"
                )
    return results


@dataclasses.dataclass
class Summary:
    median: float
    min: float
    max: float
    windows: int
    noisy: int

    def __str__(self) -> str:
        noisy = f", {self.noisy} noisy" if self.noisy else ""
        return (
            f"{self.median:9.1f} (min {self.min:.1f}, max {self.max:.1f}; "
            f"{self.windows} windows{noisy})"
        )


def summarize(windows: Sequence[Window]) -> Summary:
    """Median/min/max rate over windows; the median ignores noisy windows when enough are clean."""
    clean = [w.rate for w in windows if not w.noisy]
    rates = clean if len(clean) >= max(1, len(windows) // 2) else [w.rate for w in windows]
    return Summary(
        statistics.median(rates), min(rates), max(rates), len(windows), len(windows) - len(clean)
    )


def median_ratio(a: Sequence[Window], b: Sequence[Window]) -> float:
    """Median over rounds of rate(a)/rate(b) within the same round: robust to slow drifts.

    Only rounds in which both windows are clean count, when there are any: contenders do not
    suffer equally from other processes (OpenMP thread pools collapse under contention).
    """
    pairs = list(zip(a, b))
    clean = [(x, y) for x, y in pairs if not (x.noisy or y.noisy)]
    return statistics.median(x.rate / y.rate for x, y in clean or pairs)


def environment_line() -> str:
    """Date, machine and versions, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {cpu}, {NUM_CPUS} CPUs; Python "
        f"{platform.python_version()}; load average {load_average()}"
    )


def add_window_flags(parser) -> None:
    """The command-line flags every interleaved benchmark shares."""
    parser.add_argument("--tf", action="append", help="TF contender NAME:key=value,...")
    parser.add_argument("--torch", action="append", help="torch contender NAME:key=value,...")
    parser.add_argument("--no_torch", action="store_true", help="compare TF contenders only")
    parser.add_argument("--peak_seconds", type=float, default=3.0, help="0: skip the peak")
    parser.add_argument("--windows", type=int, default=7, help="rounds of windows")
    parser.add_argument("--window_seconds", type=float, default=4.0)
    parser.add_argument("--warmup_steps", type=int, default=10)
    parser.add_argument("--noise_threshold", type=float, default=0.05,
                        help="share of the CPU used by other processes that flags a window")
    parser.add_argument("--max_tries", type=int, default=3, help="tries of a noisy window")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--mixed_precision", choices=["none", "float16", "bfloat16"],
                        default="none", help="TF mixed_<x> policy / torch autocast dtype")
    parser.add_argument("--json", help="also write the results here")  # fmt: skip


def report(
    workers: Sequence[Worker],
    results: dict[str, list[Window]],
    reference: str | None,
    flop_per_item: float,
    peak_gflops: float | None,
    unit: str = "images/s",
) -> dict:
    """Prints the table of rates, GFLOP/s, share of peak and ratio to ``reference``."""
    ref = results.get(reference) if reference else None
    print(f"\n{'contender':>20}  {unit + ': median (min, max)':<46} {'GFLOP/s':>8} "
          f"{'% peak':>7} {'x ref':>6}")  # fmt: skip
    table = {}
    for w in workers:
        s = summarize(results[w.name])
        gflops = s.median * flop_per_item / 1e9
        share = f"{100 * gflops / peak_gflops:6.1f}%" if peak_gflops else "    n/a"
        ratio = median_ratio(results[w.name], ref) if ref else None
        ratio_text = f"{ratio:6.2f}" if ratio else "   n/a"
        print(f"{w.name:>20}  {str(s):<46} {gflops:8.1f} {share:>7} {ratio_text}")
        table[w.name] = dataclasses.asdict(s) | {"gflops": gflops, "ratio_to_reference": ratio}
    return {"environment": environment_line(), "peak_gflops": peak_gflops, "contenders": table}


def parse_contender(spec: str) -> tuple[str, dict]:
    """``"name:key=value,key=value"`` -> (name, {key: value})."""
    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"Contender option {item!r} in {spec!r} is not key=value.")
        options[key] = value
    return name, options


def run_contenders(
    workers: Sequence[Worker],
    args,
    reference: str | None,
    flop_per_item: float,
    peak_seconds: float = 0.0,
) -> dict:
    """Sets the workers up one at a time, measures the matmul peak (if ``peak_seconds``),
    runs the interleaved windows, prints the table (and writes ``args.json``)."""
    try:
        for w in workers:  # one at a time, so that set-up and tracing do not compete
            info = w.call("setup")
            print(f"# {w.name}: warm-up {1e3 * info['step_seconds']:.1f} ms/step, "
                  f"{info['window_steps']} steps per window")  # fmt: skip
        peak = None
        if peak_seconds > 0:
            # Best of two tries each: a try that other processes disturbed reads low.
            peaks = {
                w.name: max(w.call("peak", seconds=peak_seconds)["gflops"] for _ in range(2))
                for w in workers
            }
            peak = max(peaks.values())
            print("# float32 matmul peak, GFLOP/s: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))  # fmt: skip
        results = interleave(workers, args.windows, args.noise_threshold, args.max_tries, log=print)
    finally:
        for w in workers:
            w.close()
    table = report(workers, results, reference, flop_per_item, peak)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=2)
    return table


def run_tf_and_torch(
    args,
    tf_specs: Sequence[str],
    torch_specs: Sequence[str],
    worker_argv: Callable[[str, str], list[str]],
    flop_per_item: float,
    peak_seconds: float = 0.0,
) -> dict:
    """One worker per TF and torch contender spec (``worker_argv(kind, spec)`` starts it), run
    by :func:`run_contenders`; the ratio column is to the first torch contender, else to the
    first TF contender."""
    workers = [
        Worker(parse_contender(spec)[0], worker_argv(kind, spec))
        for kind, specs in (("tf", tf_specs), ("torch", torch_specs))
        for spec in specs
    ]
    reference = parse_contender((list(torch_specs) or list(tf_specs))[0])[0]
    return run_contenders(workers, args, reference, flop_per_item, peak_seconds)


def worker_argv(module: str, args, kind: str, spec: str, **extra: object) -> list[str]:
    """``python`` arguments that start one benchmark worker of ``module`` (``-m`` form) for the
    contender ``spec``, with the run's shared settings and ``extra`` ones (``--name value``)."""
    argv = ["-m", module, "--worker", kind, "--spec", spec]
    for name, value in {"batch_size": args.batch_size, "window_seconds": args.window_seconds,
                        "warmup_steps": args.warmup_steps, **extra, "device": args.device,
                        "mixed_precision": args.mixed_precision}.items():
        argv += [f"--{name}", str(value)]
    return argv
