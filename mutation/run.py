"""`make mutate`: mutmut over the core modules against the fast tests, and its report.

    python -m mutation.run                  # every module of [tool.mutmut] only_mutate
    python -m mutation.run --module pipeline/domain/routing.py --tests tests/pipeline/domain

Steps: a preflight run of the selected fast tests (tests already failing are deselected and
listed, so another engineer's unfinished change cannot stop the run), `mutmut run` on 2 cores
(`nice`), then the verdicts read from mutants/*.meta, the equivalent mutants of
mutation/equivalents.toml set aside, and mutation/report.md written: per module killed,
survived, timed out, each survivor with its diff, and the closing line
`mutation: killed=K survived=S timeout=T equivalent=E rate=R`. A full run (every module, the
repository itself as working directory) also rewrites mutation/state.json, which the CI gate
(mutation/ci_gate.py) compares against to decide what a change touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "mutation"
BAR = 0.90
# mutmut's exit codes, folded into the four kinds the report counts (None: not run yet).
KILLED = {1, 3, 37}
SURVIVED = {0, 5, 33}  # 5/33: no fast test covers it, which is a survivor too
TIMEOUT = {36, -24, 24, 152, 255, -9, -11}
SKIPPED = {34, 2}
_IGNORED_NAMES = shutil.ignore_patterns(
    ".venv*",
    ".git",
    "mutants",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.db",
    "*.db-*",
)
_IGNORED_PATHS = {ROOT / "models", ROOT / "bench" / "out"}


def copy_ignore(directory: str, names: list[str]) -> set[str]:
    """What a scratch copy of the repository leaves out: caches, databases, trained models."""
    ignored = set(_IGNORED_NAMES(directory, names))
    return ignored | {n for n in names if Path(directory) / n in _IGNORED_PATHS}


SHOW_SCRIPT = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
out = {}
for name in sys.stdin.read().split():
    try:
        out[name] = get_diff_for_mutant(name, path=find_mutant(name).path)
    except Exception as error:  # a diff we cannot draw is reported, not fatal
        out[name] = f"(no diff: {error!r})"
print(json.dumps(out))
"""


def mutmut_config(root: Path = ROOT) -> dict[str, Any]:
    """The [tool.mutmut] table of pyproject.toml."""
    data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    return dict(data["tool"]["mutmut"])


def listed_modules(root: Path = ROOT) -> list[str]:
    """The modules `make mutate` covers: [tool.mutmut] only_mutate."""
    return [str(p) for p in mutmut_config(root)["only_mutate"]]


def module_name(path: str) -> str:
    """pipeline/domain/routing.py -> pipeline.domain.routing."""
    return path.removesuffix(".py").replace("/", ".")


def sha256(path: Path) -> str:
    """The file's sha256 (hex), or "" when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


@dataclass
class Equivalent:
    """A mutant judged equivalent: its function, the lines the mutation adds, and why."""

    function: str
    added: str
    reason: str
    used: bool = False


def load_equivalents(path: Path = HERE / "equivalents.toml") -> list[Equivalent]:
    """The checked-in equivalent mutants."""
    if not path.is_file():
        return []
    data = tomllib.loads(path.read_text("utf-8"))
    return [Equivalent(e["function"], e["added"].strip(), e["reason"]) for e in data["equivalent"]]


def added_lines(diff: str) -> str:
    """The lines a mutant's diff adds, stripped and joined: its identity across renumbering."""
    lines = [
        ln[1:].strip()
        for ln in diff.splitlines()
        if ln.startswith("+") and not ln.startswith("+++")
    ]
    return "\n".join(lines)


def function_of(mutant: str) -> str:
    """pipeline.x.x_f__mutmut_3 -> pipeline.x.x_f."""
    return mutant.partition("__mutmut_")[0]


@dataclass
class ModuleResult:
    """One module's verdicts."""

    path: str
    killed: int = 0
    survived: int = 0
    timeout: int = 0
    equivalent: int = 0
    not_run: int = 0
    survivors: dict[str, str] = field(default_factory=dict)  # name -> diff
    equivalents: dict[str, str] = field(default_factory=dict)  # name -> reason

    @property
    def rate(self) -> float:
        """killed / (killed + survived + timeout); 1.0 when nothing is left to kill."""
        judged = self.killed + self.survived + self.timeout
        return self.killed / judged if judged else 1.0


def read_verdicts(workdir: Path, modules: list[str]) -> dict[str, dict[str, int | None]]:
    """mutant name -> exit code, per module, from mutmut's mutants/<module>.meta."""
    verdicts: dict[str, dict[str, int | None]] = {}
    for module in modules:
        meta = workdir / "mutants" / (module + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {}
        verdicts[module] = codes
    return verdicts


def diffs_for(workdir: Path, names: list[str]) -> dict[str, str]:
    """Each named mutant's diff, drawn by mutmut in one process."""
    if not names:
        return {}
    done = subprocess.run(
        [sys.executable, "-c", SHOW_SCRIPT],
        cwd=workdir,
        input=" ".join(names),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


def judge(workdir: Path, modules: list[str], equivalents: list[Equivalent]) -> list[ModuleResult]:
    """Fold mutmut's verdicts into per-module results, equivalents set aside."""
    verdicts = read_verdicts(workdir, modules)
    candidates = [
        n for codes in verdicts.values() for n, c in codes.items() if c in SURVIVED | TIMEOUT
    ]
    diffs = diffs_for(workdir, candidates)
    results = []
    for module in modules:
        result = ModuleResult(module)
        for name, code in sorted(verdicts[module].items(), key=lambda kv: _natural(kv[0])):
            if code is None:
                result.not_run += 1
            elif code in KILLED:
                result.killed += 1
            elif code in SKIPPED:
                continue
            else:
                diff = diffs.get(name, "")
                match = next(
                    (
                        e
                        for e in equivalents
                        if e.function == function_of(name) and e.added == added_lines(diff)
                    ),
                    None,
                )
                if match is not None:
                    match.used = True
                    result.equivalent += 1
                    result.equivalents[name] = match.reason
                elif code in TIMEOUT:
                    result.timeout += 1
                    result.survivors[name] = f"(timed out)\n{diff}"
                else:
                    result.survived += 1
                    tag = "" if code == 0 else "(no fast test covers it)\n"
                    result.survivors[name] = tag + diff
        results.append(result)
    return results


def _natural(name: str) -> tuple[str, int]:
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number) if number.isdigit() else 0


def summary_line(results: list[ModuleResult]) -> str:
    """`mutation: killed=K survived=S timeout=T equivalent=E rate=R`."""
    k = sum(r.killed for r in results)
    s = sum(r.survived for r in results)
    t = sum(r.timeout for r in results)
    e = sum(r.equivalent for r in results)
    rate = k / (k + s + t) if k + s + t else 1.0
    return f"mutation: killed={k} survived={s} timeout={t} equivalent={e} rate={rate:.3f}"


def render_report(results: list[ModuleResult], deselected: list[str], note: str = "") -> str:
    """mutation/report.md: the table, the survivors with their diffs, the summary line last."""
    out = [
        "# Mutation report",
        "",
        "mutmut over the core modules against the fast tests "
        "(`make test-fast`: no server). Rate = killed / (killed + survived + timeout); "
        f"equivalent mutants (mutation/equivalents.toml) excluded. Bar: {BAR:.2f} per module.",
        "",
    ]
    if note:
        out += [note, ""]
    if deselected:
        out += ["Tests failing before any mutation (deselected for this run):", ""]
        out += [f"- `{t}`" for t in deselected] + [""]
    out += [
        "| module | killed | survived | timeout | equivalent | not run | rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        flag = "" if r.rate >= BAR else " ✗"
        out.append(
            f"| {r.path} | {r.killed} | {r.survived} | {r.timeout} | {r.equivalent} "
            f"| {r.not_run} | {r.rate:.3f}{flag} |"
        )
    out.append("")
    for r in results:
        if not r.survivors:
            continue
        out += [f"## {r.path}: {len(r.survivors)} left", ""]
        for name, diff in r.survivors.items():
            out += [f"### `{name}`", "", "```diff", diff.strip(), "```", ""]
    out.append(summary_line(results))
    return "\n".join(out) + "\n"


def covering_tests(workdir: Path, modules: list[str]) -> dict[str, list[str]]:
    """module -> the test files whose tests ran its functions (mutmut's stats), with conftests."""
    stats_path = workdir / "mutants" / "mutmut-stats.json"
    if not stats_path.is_file():
        return {m: [] for m in modules}
    stats = json.loads(stats_path.read_text())["tests_by_mangled_function_name"]
    covering: dict[str, list[str]] = {}
    for module in modules:
        prefix = module_name(module) + "."
        files: set[str] = set()
        for function, tests in stats.items():
            if function.startswith(prefix) and function[len(prefix) :].startswith(("x_", "xǁ")):
                files |= {t.split("::", 1)[0] for t in tests}
        for test_file in list(files):
            parent = Path(test_file).parent
            while parent.parts and parent.parts[0] == "tests":
                if (ROOT / parent / "conftest.py").is_file():
                    files.add(str(parent / "conftest.py"))
                parent = parent.parent
        covering[module] = sorted(files)
    return covering


def mutant_seconds(module: str, workdir: Path = ROOT) -> float:
    """What mutmut spent on this module's mutants (its per-mutant durations, summed)."""
    meta = workdir / "mutants" / (module + ".meta")
    if not meta.is_file():
        return 0.0
    durations = json.loads(meta.read_text()).get("durations_by_key") or {}
    return float(sum(d for d in durations.values() if isinstance(d, int | float)))


def write_state(
    results: list[ModuleResult], covering: dict[str, list[str]], seconds: float
) -> None:
    """mutation/state.json: per module its sha256, its covering tests' sha256 and its verdicts."""
    total = sum(r.killed + r.survived + r.timeout for r in results) or 1
    state = {
        "bar": BAR,
        "note": "written by `make mutate`; mutation/ci_gate.py re-mutates a module whose source "
        "or covering tests no longer match these hashes",
        "modules": {
            r.path: {
                "sha256": sha256(ROOT / r.path),
                "tests": {t: sha256(ROOT / t) for t in covering.get(r.path, [])},
                "killed": r.killed,
                "survived": r.survived,
                "timeout": r.timeout,
                "equivalent": r.equivalent,
                "not_run": r.not_run,
                "rate": round(r.rate, 4),
                "seconds": round(
                    mutant_seconds(r.path) or seconds * (r.killed + r.survived + r.timeout) / total,
                    1,
                ),
            }
            for r in results
        },
    }
    (HERE / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def prepare_workdir(workdir: Path, modules: list[str], tests: list[str]) -> None:
    """A copy of the repository whose [tool.mutmut] mutates `modules` against `tests`."""
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(ROOT, workdir, ignore=copy_ignore, symlinks=True)
    pyproject = workdir / "pyproject.toml"
    text = pyproject.read_text("utf-8")
    listed = "".join(f'    "{m}",\n' for m in modules)
    text = re.sub(r"(?ms)^only_mutate = \[\n.*?^\]\n", f"only_mutate = [\n{listed}]\n", text)
    text = re.sub(
        r"(?m)^pytest_add_cli_args_test_selection = .*$",
        "pytest_add_cli_args_test_selection = " + json.dumps(tests),
        text,
    )
    pyproject.write_text(text, "utf-8")


def reset_for_retest(workdir: Path, modules: list[str]) -> int:
    """Forget mutmut's cached verdicts that newer tests may change; how many were reset.

    mutmut keeps a verdict until the mutated function changes, so a test added since would
    never get to kill a cached survivor, and a weakened test would never revive a cached kill.
    Survivors and timeouts are always tried again; every verdict of a module whose covering
    tests changed since mutation/state.json is; and when a module's source changed, mutmut's
    map of which tests run which function is taken anew.
    """
    recorded = {}
    if (HERE / "state.json").is_file():
        recorded = json.loads((HERE / "state.json").read_text())["modules"]
    reset = 0
    stats = workdir / "mutants" / "mutmut-stats.json"
    for module in modules:
        recorded_sha = (recorded.get(module) or {}).get("sha256")
        if recorded_sha is not None and recorded_sha != sha256(ROOT / module):
            # mutmut maps tests to functions once; a function added since has no tests in
            # that map and its mutants would all pass as "no tests": take the map anew.
            stats.unlink(missing_ok=True)
        meta = workdir / "mutants" / (module + ".meta")
        copied = workdir / "mutants" / module
        data = json.loads(meta.read_text()) if meta.is_file() else {}
        if not data.get("exit_code_by_key"):
            # Copied unmutated by an earlier run that did not list it: mutmut would take the
            # copy for its mutants (newer than the source) and test none. Make it start over.
            copied.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            # Its functions had no trampolines when the stats were taken: take them anew.
            stats.unlink(missing_ok=True)
            continue
        tests = (recorded.get(module) or {}).get("tests") or {}
        stale = any(sha256(ROOT / t) != digest for t, digest in tests.items())
        codes = data["exit_code_by_key"]
        for name, code in codes.items():
            if code is not None and (stale or code in SURVIVED | TIMEOUT):
                codes[name] = None
                reset += 1
        meta.write_text(json.dumps(data, indent=4))
    return reset


def preflight(workdir: Path, tests: list[str], env: dict[str, str], timeout_s: float) -> list[str]:
    """Run the selected fast tests once, unmutated; return the ids of those that fail."""
    failures = workdir / "mutants" / "preflight-failures.txt"
    failures.parent.mkdir(parents=True, exist_ok=True)
    failures.write_text("")
    subprocess.run(
        [
            "nice",
            "-n",
            "10",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "mutation.fast_tests",
            *tests,
        ],
        cwd=workdir,
        env={**env, "MUTATION_FAILURES_OUT": str(failures)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout_s,
        check=False,
    )
    return sorted(set(failures.read_text().split()))


class StatsFailed(Exception):
    """mutmut's unmutated stats run had failing tests (their ids)."""

    def __init__(self, tests: list[str]) -> None:
        super().__init__(", ".join(tests))
        self.tests = tests


def run_mutmut(
    workdir: Path, max_children: int, env: dict[str, str], timeout_s: float, log: Path
) -> bool:
    """`mutmut run`; False when it ran out of time (what it finished still counts)."""
    mutmut = Path(sys.executable).with_name("mutmut")
    with log.open("w") as out:
        process = subprocess.Popen(
            ["nice", "-n", "10", str(mutmut), "run", "--max-children", str(max_children)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
            return False
    if process.returncode != 0:
        text = log.read_text(errors="replace")
        failing = re.findall(r"(?m)^FAILED (\S+)", text)
        if "failed to collect stats" in text and failing:
            raise StatsFailed(failing)
        tail = text[-3000:]
        raise SystemExit(f"mutmut run failed ({process.returncode}); log {log}:\n{tail}")
    return True


def mutate(
    modules: list[str],
    tests: list[str],
    workdir: Path,
    *,
    max_children: int = 2,
    timeout_s: float = 4 * 3600,
    report: Path | None = None,
) -> list[ModuleResult]:
    """Run the whole thing and return the per-module results (report written if asked)."""
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("MUTANT_UNDER_TEST", "CI")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    reset = reset_for_retest(workdir, modules)
    if reset:
        print(f"{reset} cached verdicts reset (survivors, timeouts, modules whose tests changed)")
    deselected = preflight(workdir, tests, env, timeout_s)
    deselect_file = workdir / "mutants" / "deselect.txt"
    deselect_file.write_text("\n".join(deselected) + "\n")
    env["MUTATION_DESELECT"] = str(deselect_file.resolve())
    log = workdir / "mutants" / "run.log"
    for _ in range(3):  # a test that broke after the preflight (a concurrent edit) is set aside
        left = max(60.0, timeout_s - (time.monotonic() - started))
        try:
            finished = run_mutmut(workdir, max_children, env, left, log)
            break
        except StatsFailed as failed:
            print(f"unmutated tests failed under mutmut, deselected: {failed.tests}")
            deselected = sorted(set(deselected) | set(failed.tests))
            deselect_file.write_text("\n".join(deselected) + "\n")
    else:
        raise SystemExit(f"mutmut could not collect stats; log {log}")
    equivalents = load_equivalents()
    results = judge(workdir, modules, equivalents)
    note = (
        ""
        if finished
        else f"mutmut ran out of its {timeout_s:.0f} s: `not run` mutants are unjudged."
    )
    if report is not None:
        stale = [e for e in equivalents if not e.used]
        if stale and set(modules) == set(listed_modules()):
            note += "".join(
                f"\nStale equivalent (matches no mutant): `{e.function}` `{e.added}`" for e in stale
            )
        report.write_text(render_report(results, deselected, note.strip()))
    print(f"{'module':48} killed survived timeout equiv  rate")
    for r in results:
        print(
            f"{r.path:48} {r.killed:6} {r.survived:8} {r.timeout:7} {r.equivalent:5}  {r.rate:.3f}"
        )
    if deselected:
        print(f"deselected (failing before mutation): {len(deselected)}")
    if report is not None:
        print(f"report: {report.relative_to(ROOT) if report.is_relative_to(ROOT) else report}")
    return results


def main(argv: list[str] | None = None) -> int:
    """`make mutate`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--module", action="append", help="a module path (default: only_mutate)")
    parser.add_argument("--tests", action="append", help="test paths (default: the config's)")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds in all")
    parser.add_argument("--report", type=Path, default=HERE / "report.md")
    parser.add_argument(
        "--fail-under", type=float, default=None, help="exit 1 if a module is under"
    )
    parser.add_argument(
        "--judge-only",
        action="store_true",
        help="run nothing: report (and record) the verdicts mutants/ holds now",
    )
    args = parser.parse_args(argv)
    every = listed_modules()
    modules = args.module or every
    unknown = sorted(set(modules) - set(every))
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {unknown}")
    default_tests = [str(t) for t in mutmut_config()["pytest_add_cli_args_test_selection"]]
    tests = args.tests or default_tests
    full = modules == every and tests == default_tests
    if full or args.judge_only:
        workdir = ROOT
    else:
        workdir = Path("/tmp") / f"triage-mutation-{os.getpid()}"
        prepare_workdir(workdir, modules, tests)
    started = time.monotonic()
    try:
        if args.judge_only:
            results = judge(workdir, modules, load_equivalents())
            args.report.write_text(render_report(results, [], "Judged from cached verdicts."))
        else:
            results = mutate(
                modules,
                tests,
                workdir,
                max_children=args.max_children,
                timeout_s=args.timeout,
                report=args.report,
            )
        if full:
            write_state(results, covering_tests(workdir, modules), time.monotonic() - started)
    finally:
        if workdir != ROOT:
            shutil.rmtree(workdir, ignore_errors=True)
    print(summary_line(results))
    if args.fail_under is not None and any(r.rate < args.fail_under for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
