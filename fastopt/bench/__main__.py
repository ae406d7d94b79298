"""``python -m fastopt.bench``: the benchmark report (fastopt vs NumPy vs torch vs the bound).

Every figure in one report comes from one run on this machine, one thread, except the threads
section, which runs one large step at 1, 2, ... threads (``--threads 1,2,4`` to choose). Speed is quoted as
ratios measured side by side, and against the memory-bandwidth bound measured in the same run
(a streaming probe that moves the bytes the step must move).

    python -m fastopt.bench              # the full report (a few minutes)
    python -m fastopt.bench --quick      # a short run
    python -m fastopt.bench --plot FILE.png   # also plot ns/element vs n (needs matplotlib)
"""
import argparse
import importlib
import os
import sys

#: The report's sections, in order: each module has run(args) -> dict of results, printing
#: its own tables.
SECTIONS = ("dense", "torch_models", "sparse", "threads")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastopt.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes, shorter timings")
    parser.add_argument("--plot", metavar="FILE.png", help="plot ns/element vs n")
    parser.add_argument("--threads", metavar="1,2,4",
                        help="thread counts of the threads section (default: 1, 2, 4, ... up "
                             "to the CPUs this process may use)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    import fastopt
    # every section but "threads" measures one thread (fastopt and torch alike)
    print("fastopt benchmark report (1 thread except the threads section; times are the best "
          "of several repeats)\n")
    fastopt.show_config()
    results = {}
    for name in args.sections.split(","):
        name = name.strip()
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}")
        module = importlib.import_module(f"fastopt.bench.{name}")
        print()
        if name == "threads":
            results[name] = module.run(args)
        else:
            with fastopt.num_threads(1):
                results[name] = module.run(args)
    if args.plot:
        from fastopt.bench.plot import plot
        plot(results, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
