"""CI's mutation gate: re-mutate the listed modules a change touched; fail under the bar.

    python -m mutation.ci_gate [--budget SECONDS] [--bar 0.90]

"Touched" is decided from files alone, so it works in a clean checkout without git history:
mutation/state.json (written by `make mutate`) records each module's sha256 and the sha256 of
every test file whose tests ran it (with their conftest.py files). A module is touched when
its source, or one of those test files, differs from the record (or is gone), or when the
module has no record yet or an incomplete one (mutants never run). Touched modules are
mutated (mutmut, 2 cores) against their covering tests only, in a scratch copy under /tmp;
the gate fails when one of them kills fewer than `--bar` of its non-equivalent mutants, or
leaves a survivor the record did not have (one not listed in equivalents.toml). It
is bounded: modules are taken in order of their recorded mutation time until `--budget`
(TRIAGE_MUTATION_BUDGET_S, default 1200 s) would be exceeded; the rest are printed as
skipped (CI never rewrites state.json, so they stay touched for the next run), and a run
that still overruns stops and judges what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from mutation.run import (
    BAR,
    HERE,
    ROOT,
    ModuleResult,
    listed_modules,
    mutate,
    mutmut_config,
    prepare_workdir,
    sha256,
    summary_line,
)

OVERHEAD_S = 90.0  # copying, generating mutants, the preflight and stats runs


def load_state(path: Path = HERE / "state.json") -> dict[str, dict[str, object]]:
    """The recorded modules, or {} when `make mutate` never wrote a state."""
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text())["modules"])


def why_touched(module: str, record: dict[str, object] | None, root: Path = ROOT) -> str | None:
    """Why this module must be mutated again, or None when nothing it depends on changed."""
    if record is None:
        return "no record in mutation/state.json"
    if record.get("not_run"):
        return f"record incomplete ({record['not_run']} mutants never run)"
    if sha256(root / module) != record["sha256"]:
        return "source changed"
    tests = record.get("tests") or {}
    assert isinstance(tests, dict)
    changed = sorted(t for t, digest in tests.items() if sha256(root / t) != digest)
    if changed:
        return "covering tests changed: " + ", ".join(changed)
    return None


def plan(
    touched: dict[str, str], state: dict[str, dict[str, object]], budget_s: float
) -> tuple[list[str], list[str]]:
    """Modules to mutate within the budget (cheapest first), and the ones skipped."""

    def cost(module: str) -> float:
        record = state.get(module) or {}
        seconds = record.get("seconds")
        return float(seconds) if isinstance(seconds, int | float) else 300.0

    chosen: list[str] = []
    skipped: list[str] = []
    spent = OVERHEAD_S
    for module in sorted(touched, key=cost):
        if spent + cost(module) <= budget_s:
            chosen.append(module)
            spent += cost(module)
        else:
            skipped.append(module)
    return chosen, skipped


def failures(
    results: list[ModuleResult], state: dict[str, dict[str, object]], bar: float
) -> list[str]:
    """Why the gate fails: a module under the bar, or with a survivor the record did not have.

    Every survivor `make mutate` left is killed or listed in equivalents.toml, so a new one is
    a rule no test guards any more (an assertion deleted, a branch added untested), even when
    the module's rate stays above the bar.
    """
    found: list[str] = []
    for r in results:
        recorded = (state.get(r.path) or {}).get("survived", 0)
        allowed = int(recorded) if isinstance(recorded, int) else 0
        if r.rate < bar:
            found.append(f"{r.path}: rate {r.rate:.3f} < {bar:.2f}")
        elif r.survived + r.timeout > allowed:
            found.append(
                f"{r.path}: {r.survived + r.timeout} surviving mutants not in "
                f"mutation/equivalents.toml (recorded: {allowed}); rate {r.rate:.3f}"
            )
    return found


def covering_test_paths(modules: list[str], state: dict[str, dict[str, object]]) -> list[str]:
    """The test files recorded as covering these modules (the default selection if unknown)."""
    paths: set[str] = set()
    for module in modules:
        tests = (state.get(module) or {}).get("tests") or {}
        assert isinstance(tests, dict)
        known = [t for t in tests if not t.endswith("conftest.py") and (ROOT / t).is_file()]
        if not known:
            default = mutmut_config()["pytest_add_cli_args_test_selection"]
            return [str(p) for p in default]
        paths |= set(known)
    return sorted(paths)


def main(argv: list[str] | None = None) -> int:
    """Exit 1 when a touched module's kill rate is under the bar."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--budget", type=float, default=float(os.environ.get("TRIAGE_MUTATION_BUDGET_S", 1200))
    )
    parser.add_argument("--bar", type=float, default=BAR)
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args(argv)

    state = load_state()
    if not state:
        print("mutation gate: no mutation/state.json yet; run `make mutate` and commit it")
        return 0
    touched = {
        m: reason for m in listed_modules() if (reason := why_touched(m, state.get(m))) is not None
    }
    print(
        f"mutation gate: {len(touched)} of {len(listed_modules())} modules touched "
        f"since mutation/state.json"
    )
    for module, reason in touched.items():
        print(f"  {module}: {reason}")
    if not touched:
        print("mutation gate: nothing to mutate")
        return 0
    chosen, skipped = plan(touched, state, args.budget)
    for module in skipped:
        print(f"mutation gate: skipped {module} (over the {args.budget:.0f} s budget)")
    if not chosen:
        print("mutation gate: every touched module is over the budget; nothing mutated")
        return 0
    tests = covering_test_paths(chosen, state)
    print(f"mutation gate: mutating {', '.join(chosen)} against {len(tests)} test files")
    workdir = Path("/tmp") / f"triage-mutation-gate-{os.getpid()}"
    prepare_workdir(workdir, chosen, tests)
    started = time.monotonic()
    try:
        results = mutate(
            chosen,
            tests,
            workdir,
            max_children=args.max_children,
            timeout_s=max(120.0, args.budget - OVERHEAD_S / 2),
            report=workdir.parent / f"{workdir.name}-report.md",
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"mutation gate: {time.monotonic() - started:.0f} s")
    print(summary_line(results))
    failed = failures(results, state, args.bar)
    for reason in failed:
        print(f"mutation gate: FAIL {reason}")
    for r in results:
        for name, diff in list(r.survivors.items())[:10]:
            print(f"--- {name}\n{diff.strip()}")
    if failed:
        return 1
    print(f"mutation gate: every touched module at or above {args.bar:.2f}, no new survivor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
