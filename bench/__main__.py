"""`python -m bench {all,ingest,pipeline,memory,backfill,classifier} [--quick] [--profile]`.

Full runs write bench/results.json (merged, section by section) and the generated block of
BENCHMARKS.md; quick runs (CI's smoke test) write bench/out/results-quick.json and leave both
alone. Process logs and py-spy profiles go to bench/out/run-<mode>/.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import shlex
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    load_average,
    machine_info,
    postgres_database,
    redis_database,
    redis_url,
    say,
)
from bench.processes import kill_leftovers

RESULTS = ROOT / "bench" / "results.json"
OUT = ROOT / "bench" / "out"
BENCHES = ("ingest", "pipeline", "memory", "backfill", "classifier")
ALL = ("ingest", "pipeline", "backfill", "classifier")  # memory rides on the pipeline's worker


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="ticket-triage against bare and minimal baselines, same machine, same run.",
    )
    parser.add_argument("bench", choices=("all", *BENCHES), help="what to run")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, < 1 min")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record py-spy profiles of our API and worker (extra, unmeasured passes)",
    )
    return parser.parse_args(argv)


def run_one(
    name: str, quick: bool, profile: bool, log_dir: Path, with_memory: bool = False
) -> dict[str, dict[str, Any]]:
    """One benchmark on its own database (Redis flushed around it); its section(s) by name."""
    if name == "classifier":
        from bench.classifier import run_classifier

        return {name: run_classifier(quick)}
    with redis_database(), postgres_database(name) as dsn:
        if name == "ingest":
            from bench.ingest import run_ingest

            return {name: run_ingest(quick, log_dir, dsn, profile=profile)}
        if name == "memory":
            from bench.pipeline import run_memory

            return {name: run_memory(quick, log_dir, dsn)}
        if name == "backfill":
            from bench.backfill import run_backfill

            return {name: run_backfill(quick, log_dir, dsn)}
        from bench.pipeline import run_pipeline

        section, rss = run_pipeline(quick, log_dir, dsn, profile, with_memory)
        return {"pipeline": section, **({"memory": rss} if rss is not None else {})}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks, print the summary, write the results."""
    args = parse_args(argv)
    # A background job ignores SIGINT: SIGTERM must unwind too, so that every process we
    # started is stopped and the run's database dropped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the stub department's access log
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    mode = "quick" if args.quick else "full"
    with one_run_at_a_time(mode, command):
        return run(args, command, OUT / f"run-{mode}")


@contextmanager
def one_run_at_a_time(mode: str, command: str) -> Iterator[None]:
    """Runs of one mode in one checkout take turns: each starts by clearing the logs' folder."""
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f".lock-{mode}", "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            say(f"waiting for another {mode} bench run to end ({lock.read().strip()})")
            fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel when its holder exits
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}: {command}\n")
        lock.flush()
        yield


def run(args: argparse.Namespace, command: str, log_dir: Path) -> int:
    """The benchmarks of one run; 1 when any of them failed."""
    names = list(ALL) if args.bench == "all" else [args.bench]
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    results: dict[str, Any] = {"machine": machine_info(command), "quick": args.quick}
    results["machine"]["redis_url"] = redis_url()  # claimed now: the run's private database
    failed = []
    for name in names:
        started = time.monotonic()
        say(f"== {name} ==")
        try:
            if name == "classifier" and args.bench == "all":
                sections = {name: classifier_in_all(args.quick)}
            else:
                sections = run_one(
                    name, args.quick, args.profile, log_dir, with_memory=args.bench == "all"
                )
        except KeyboardInterrupt:
            raise
        except Exception as error:  # one broken bench must not hide the others' figures
            traceback.print_exc()
            sections = {name: {"error": f"{type(error).__name__}: {error}"}}
            failed.append(name)
        for key, section in sections.items():
            section["measured"] = {
                "date": results["machine"]["date"],
                "command": command,
                "seconds": round(time.monotonic() - started, 1),
                "load_average_after": load_average(),
            }
            results[key] = section
    results["machine"]["load_average_at_end"] = load_average()
    leftovers = kill_leftovers()
    if leftovers:  # every bench stops what it started: one left behind is a bug
        results["leftover_processes"] = {"error": f"killed after the run: {leftovers}"}
        failed.append("leftover_processes")
    from bench.report import text_table, update_benchmarks_md

    print(text_table(results))
    out = OUT / "results-quick.json" if args.quick else RESULTS
    merged = _merge(out, results) if not args.quick and args.bench != "all" else results
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {out}; logs in {log_dir}")
    if not args.quick:
        update_benchmarks_md(merged)
        say("BENCHMARKS.md: generated block updated")
    return 1 if failed else 0


def classifier_in_all(quick: bool) -> dict[str, Any]:
    """The classifier under `all`: its --quick run (full: ~4 min), a smoke if quick."""
    from bench import classifier

    # The full run takes about 4 minutes and the --quick one about a minute: `all` would pass
    # its ~10 minute budget with the first, `all --quick` its minute with the second.
    return classifier.smoke() if quick else classifier.run_classifier(quick=True)


def _merge(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """A single benchmark's run replaces its own section of an existing results file."""
    if not path.is_file():
        return results
    try:
        merged: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return results
    merged.update(results)
    return merged


if __name__ == "__main__":
    sys.exit(main())
