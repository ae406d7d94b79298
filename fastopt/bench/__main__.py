"""``python -m fastopt.bench``: the benchmark report (fastopt vs NumPy vs torch vs the bound).

Every figure in one report comes from one run on this machine. Each section measures at 1
thread and at N threads (the largest of ``--threads``; default: the CPUs this process may use),
torch with ``torch.set_num_threads`` at the same count; the threads section runs one large
step at 1, 2, 4, ... N threads. Speed is quoted as ratios measured side by side, and against
the memory-bandwidth bound measured in the same run at the same thread count (a streaming
probe that moves the bytes the step must move). Rows are printed as they are measured; each
target is flagged [met] or [MISSED], and the targets are listed again at the end.

    python -m fastopt.bench              # the report (147 s on our 2-core VM)
    python -m fastopt.bench --full       # float64 too, more sizes, longer timings, medians
                                         # over several allocations
    python -m fastopt.bench --quick      # a smoke run (CI)
    python -m fastopt.bench --plot FILE.png   # also plot it (needs matplotlib)
"""
import argparse
import importlib
import sys
import time

#: The report's sections, in order: each module has run(args) -> dict of results, printing
#: its own tables.
SECTIONS = ("dense", "half", "torch_models", "sparse", "threads")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastopt.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a smoke run: fewer sizes, short "
                                                           "timings")
    mode.add_argument("--full", action="store_true", help="the thorough run: more sizes, "
                      "longer timings, medians over several allocations")
    parser.add_argument("--plot", metavar="FILE.png", help="plot speed-ups vs n (1 and N "
                                                           "threads, memory speed marked)")
    parser.add_argument("--threads", metavar="1,2,4",
                        help="thread counts of the threads section; the largest is every "
                             "section's N (default: 1, 2, 4, ... up to the CPUs this process "
                             "may use)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    import fastopt
    from fastopt.bench import _timing
    try:
        sys.stdout.reconfigure(line_buffering=True)   # each row as it is measured, piped too
    except (AttributeError, ValueError):
        pass
    print("fastopt benchmark report (times are the best of several repeats; "
          + ("--full" if args.full else "--quick" if args.quick else "default run") + ")\n")
    fastopt.show_config()
    results = {}
    _timing.TARGETS.clear()
    start = time.perf_counter()
    for name in args.sections.split(","):
        name = name.strip()
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}")
        module = importlib.import_module(f"fastopt.bench.{name}")
        print()
        with fastopt.num_threads(1):   # 1 thread unless a section asks for more
            results[name] = module.run(args)
    missed = [t for t in _timing.TARGETS if t.startswith("[MISSED]")]
    print(f"\n== Targets: {len(_timing.TARGETS) - len(missed)} met, {len(missed)} missed "
          f"(report took {time.perf_counter() - start:.0f} s) ==")
    for line in _timing.TARGETS:
        print(f"  {line}")
    if args.plot:
        from fastopt.bench.plot import plot
        plot(results, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
