#!/usr/bin/env python3
"""Turn a run of benchmarks/run.sh into a Markdown table: resguardo vs restic vs Borg.

Usage:
    python3 benchmarks/report.py [RESULTS] [--write docs/benchmarks.md]

RESULTS is a results directory of run.sh (or its results.tsv); default:
/tmp/bench/results-compare/latest.  Without --write the table is printed; with --write the
page (intro, reproduction command, method, tables) is written to that path, taken relative to
the repository root when it is not absolute.  Engines that were not run are shown as missing;
ratios and targets that need them are marked "n/a" / "not measured".
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RESULTS = Path("/tmp/bench/results-compare/latest")
REPO_ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("resguardo", "restic", "borg")
STEPS = {
    "init": "init",
    "b1_initial": "(i) initial backup",
    "b2_unchanged": "(ii) backup, nothing changed",
    "b1_repeat": "(i') initial backup again, fresh repo",
    "b3_modified": "(iii) backup after modification",
    "restore": "(iv) full restore of latest",
    "check": "(v) full read-data check",
}
X = "\N{MULTIPLICATION SIGN}"  # written as an escape: the literal sign trips RUF001
BUSY = 0.25  # other work using more than a quarter of a core during a step makes it suspect
SATURATED = 0.75  # ... while the engine and that work together kept the cores this busy
NOISE = 0.15  # run-to-run spread of a single step on this kind of machine (baseline.md)
SPEED_TARGETS = (  # step, minimum restic_wall / resguardo_wall
    ("b1_initial", 3.0),
    ("b2_unchanged", 4.0),
    ("restore", 3.0),
    ("check", 2.0),
)
RSS_STEPS = ("b1_initial", "b2_unchanged", "b3_modified", "restore", "check")
SIZE_STEPS = ("b1_initial", "b3_modified")


@dataclass
class Step:
    engine: str
    step: str
    rc: int
    wall: float
    cpu: float
    rss_mb: float
    repo_mb: float
    other_cpu: float  # CPU seconds the machine spent on other work during the step


@dataclass
class Run:
    steps: dict[tuple[str, str], Step]
    diffs: dict[str, str]
    meta: dict[str, str]
    engines: list[str]
    path: Path


def _num(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else 0.0
    except ValueError:
        return 0.0


def _note_value(note: str, key: str) -> float:
    for item in note.split():
        name, _, value = item.partition("=")
        if name == key:
            return _num(value)
    return 0.0


def load(path: Path) -> Run:
    tsv = path if path.is_file() else path / "results.tsv"
    if not tsv.is_file():
        raise SystemExit(f"report.py: no results at {tsv}; run `bash benchmarks/run.sh` first")
    steps: dict[tuple[str, str], Step] = {}
    diffs: dict[str, str] = {}
    seen: list[str] = []
    with tsv.open(newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            eng, step = r["engine"], r["step"]
            if eng not in seen:
                seen.append(eng)
            if step == "diff":
                diffs[eng] = r.get("note") or ""
                continue
            steps[(eng, step)] = Step(
                engine=eng,
                step=step,
                rc=int(_num(r["rc"])),
                wall=_num(r["wall_s"]),
                cpu=_num(r["user_s"]) + _num(r["sys_s"]),
                rss_mb=_num(r["maxrss_kb"]) / 1024,
                repo_mb=_num(r["repo_bytes"]) / 1e6,
                other_cpu=_note_value(r.get("note") or "", "other_cpu_s"),
            )
    meta: dict[str, str] = {}
    meta_file = tsv.parent / "meta.tsv"
    if meta_file.is_file():
        for line in meta_file.read_text().splitlines():
            key, _, value = line.partition("\t")
            meta[key] = value
    engines = [e for e in ENGINES if e in seen] + [e for e in seen if e not in ENGINES]
    return Run(steps, diffs, meta, engines, tsv.parent)


def speed(restic: float, ours: float) -> str:
    """restic_time / resguardo_time, written as "N.N times faster" (or "N.N times slower" below 1)."""
    if restic <= 0 or ours <= 0:
        return "n/a"
    ratio = restic / ours
    return f"{ratio:.1f}{X} faster" if ratio >= 1 else f"{1 / ratio:.1f}{X} slower"


def share(ours: float, other: float) -> str:
    """resguardo / other, as a plain factor (below 1.00 means resguardo is smaller)."""
    if ours <= 0 or other <= 0:
        return "n/a"
    return f"{ours / other:.2f}"


def fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def result_cell(run: Run, s: Step) -> str:
    text = "ok" if s.rc == 0 else f"**failed (rc={s.rc})**"
    if s.step == "restore":
        d = run.diffs.get(s.engine)
        if d == "diff_ok":
            text += "; diff identical"
        elif d:
            text += "; **diff MISMATCH**"
    return text


def contended(s: Step, nproc: int) -> bool:
    """Other work took more than BUSY of a core and, with the engine, kept the cores SATURATED busy."""
    if s.wall <= 0 or s.step.startswith("init"):
        return False
    return s.other_cpu > BUSY * s.wall and s.cpu + s.other_cpu > SATURATED * nproc * s.wall


def steps_table(run: Run) -> list[str]:
    ratios = "resguardo" in run.engines  # ratio columns only when there is something to compare
    head = "| step | engine | wall s | CPU s | peak RSS MB | repo MB | result |"
    rule = "|---|---|---:|---:|---:|---:|---|"
    if ratios:
        head += " speed vs restic | RSS ÷ restic | RSS ÷ borg | repo ÷ restic | repo ÷ borg |"
        rule += "---:|---:|---:|---:|---:|"
    out = [head, rule]
    for step, label in STEPS.items():
        if not any((e, step) in run.steps for e in run.engines):
            continue
        for eng in run.engines:
            s = run.steps.get((eng, step))
            if s is None:
                out.append(f"| {label} | {eng} | - | - | - | - | not run |" + (" |" * 5 if ratios else ""))
                continue
            repo = fmt(s.repo_mb, 1) if not step.startswith("init") else ""
            line = (
                f"| {label} | {eng} | {fmt(s.wall)} | {fmt(s.cpu)} | {s.rss_mb:.0f} | {repo} "
                f"| {result_cell(run, s)} |"
            )
            if ratios:
                cells = ["", "", "", "", ""]
                if eng == "resguardo":
                    rs, bg = run.steps.get(("restic", step)), run.steps.get(("borg", step))
                    cells[0] = speed(rs.wall, s.wall) if rs else "n/a"
                    cells[1] = share(s.rss_mb, rs.rss_mb) if rs else "n/a"
                    cells[2] = share(s.rss_mb, bg.rss_mb) if bg else "n/a"
                    if not step.startswith("init"):
                        cells[3] = share(s.repo_mb, rs.repo_mb) if rs else "n/a"
                        cells[4] = share(s.repo_mb, bg.repo_mb) if bg else "n/a"
                line += " " + " | ".join(cells) + " |"
            out.append(line)
    return out


def _failed(s: Step | None) -> str | None:
    if s is None:
        return "not measured"
    if s.rc != 0:
        return f"missed: resguardo step failed (rc={s.rc})"
    return None


def speed_target(run: Run, step: str, goal: float) -> tuple[str, str, str]:
    ours, ref = run.steps.get(("resguardo", step)), run.steps.get(("restic", step))
    label = f"{STEPS[step]}: ≥{goal:g}{X} faster than restic"
    if ref is None or ref.rc != 0:
        return label, "n/a", "not measured (no restic result)"
    bad = _failed(ours)
    if bad or ours is None:
        return label, "n/a", bad or "not measured"
    if step == "restore" and run.diffs.get("resguardo") not in (None, "diff_ok"):
        return label, speed(ref.wall, ours.wall), "missed: restored tree differs from the source"
    ratio = ref.wall / ours.wall if ours.wall > 0 else 0.0
    got = f"{ref.wall:.2f} s / {ours.wall:.2f} s = {speed(ref.wall, ours.wall)}"
    if ratio >= goal:
        return label, got, "**met**"
    need = ref.wall / goal
    over = ours.wall / need - 1
    verdict = f"missed by {goal - ratio:.1f}{X} (needs ≤ {need:.2f} s, {over:.0%} slower than that" + (
        ", within noise)" if over <= NOISE else ")"
    )
    return label, got, verdict


def size_target(run: Run) -> tuple[str, str, str]:
    label = "repository size ≤ Borg (zstd,3), after (i) and (iii)"
    parts, misses = [], []
    for step in SIZE_STEPS:
        ours, ref = run.steps.get(("resguardo", step)), run.steps.get(("borg", step))
        if ref is None or ref.rc != 0:
            return label, "n/a", "not measured (no Borg result)"
        bad = _failed(ours)
        if bad or ours is None:
            return label, "n/a", bad or "not measured"
        parts.append(f"{STEPS[step].split()[0]} {ours.repo_mb:.1f} / {ref.repo_mb:.1f} MB")
        if ours.repo_mb > ref.repo_mb:
            misses.append(
                f"{STEPS[step].split()[0]} +{ours.repo_mb - ref.repo_mb:.1f} MB "
                f"({ours.repo_mb / ref.repo_mb - 1:+.1%})"
            )
    got = "; ".join(parts)
    return label, got, ("missed by " + ", ".join(misses)) if misses else "**met**"


def rss_target(run: Run) -> tuple[str, str, str]:
    label = "peak RSS ≤ restic's, in each step (i) to (v)"
    worst: tuple[float, str] | None = None
    misses = 0
    measured = 0
    for step in RSS_STEPS:
        ours, ref = run.steps.get(("resguardo", step)), run.steps.get(("restic", step))
        if ours is None or ref is None or ours.rc != 0 or ref.rss_mb <= 0:
            continue
        measured += 1
        rel = ours.rss_mb / ref.rss_mb
        if worst is None or rel > worst[0]:
            worst = (rel, f"{STEPS[step].split()[0]} {ours.rss_mb:.0f} / {ref.rss_mb:.0f} MB")
        if rel > 1:
            misses += 1
    if run.steps.get(("restic", "b1_initial")) is None:
        return label, "n/a", "not measured (no restic result)"
    if worst is None:
        return label, "n/a", "not measured"
    peaks = [
        max((s.rss_mb for (e, st), s in run.steps.items() if e == eng and st in RSS_STEPS), default=0.0)
        for eng in ("resguardo", "restic")
    ]
    got = f"largest ratio: {worst[1]} = {worst[0]:.2f}; overall peak {peaks[0]:.0f} / {peaks[1]:.0f} MB"
    if measured < len(RSS_STEPS):
        got += f" ({measured} of {len(RSS_STEPS)} steps measured)"
    if misses:
        return label, got, f"missed at {misses} step(s), by up to {worst[0] - 1:.0%}"
    return label, got, "**met**" if measured == len(RSS_STEPS) else "met where measured"


def targets_table(run: Run) -> list[str]:
    rows = [speed_target(run, step, goal) for step, goal in SPEED_TARGETS]
    rows += [size_target(run), rss_target(run)]
    if "resguardo" not in run.engines:
        rows = [(label, "n/a", "not measured (resguardo not in this run)") for label, _, _ in rows]
    out = ["| target | measured (restic ÷ resguardo, or resguardo / reference) | verdict |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return out


def tables(run: Run) -> list[str]:
    lines = ["## Results", ""]
    missing = [e for e in ENGINES if e not in run.engines]
    if missing:
        lines += [f"Not in this run: {', '.join(missing)}.", ""]
    lines += steps_table(run)
    note = "Repository size is `du -sb` of the repository after the step."
    if "resguardo" in run.engines:
        note = (
            "Speed = restic wall ÷ resguardo wall. RSS and repository columns = resguardo ÷ "
            "the other engine (below 1.00: resguardo uses less). " + note
        )
    lines += ["", note, ""]
    diffs = ", ".join(f"{e}: {'identical' if d == 'diff_ok' else 'MISMATCH'}" for e, d in run.diffs.items())
    lines += [f"Restore check (`diff -r --no-dereference` of the restored tree): {diffs or 'not run'}.", ""]
    busy = [
        f"{s.engine} {STEPS.get(s.step, s.step).split()[0]} ({s.other_cpu:.1f} s over {s.wall:.1f} s)"
        for s in run.steps.values()
        if contended(s, int(_num(run.meta.get("nproc")) or 2))
    ]
    if busy:
        lines += [
            "**Warning:** other work used the CPU during these steps (CPU seconds not spent by the "
            "engine; kernel writeback after a restore counts too): " + "; ".join(busy) + ". "
            "Their figures are not reliable: rerun on an idle machine.",
            "",
        ]
    lines += ["## Targets", "", *targets_table(run), ""]
    return lines


def dataset_note(m: dict[str, str]) -> str:
    ours, base = m.get("manifest_sha256"), m.get("baseline_manifest_sha256")
    if not ours or not base:
        return ""
    if ours == base:
        return " Same dataset as the shared `bench/baseline.md`."
    return (
        " This is not the dataset of the shared `bench/baseline.md` (manifest `"
        + base[:8]
        + "…`): the Python tree is copied from the machine's interpreter, so its installed packages "
        "change the dataset. Compare engines within one run, not with that file."
    )


def page(run: Run) -> list[str]:
    m = run.meta
    versions = [f"- {e}: {m.get(f'version_{e}', '?')}" for e in run.engines]
    lines = [
        "# Benchmarks: resguardo vs restic vs Borg",
        "",
        "Side-by-side figures for the same steps on the same dataset, in one run on one machine. "
        "The dataset is built by the shared `bench/make_dataset.sh` (a copy of the Python 3.11 "
        "library tree, a CPU torch wheel, libLLVM-15 and a `pg_dump` of a `pgbench -s 50` "
        "database).",
        "",
        f"Machine: {m.get('nproc', '?')} CPUs ({m.get('cpu', '?')}), {m.get('memory', '?')} memory, "
        f"{m.get('os', '?')}, kernel {m.get('kernel', '?')}. Run on {m.get('date', '?')}.",
        "",
        "Versions:",
        "",
        *versions,
        "",
        f"Dataset: {m.get('dataset', '?')}, {m.get('dataset_files', '?')} files, "
        f"{_num(m.get('dataset_bytes')) / 1e6:.1f} MB; manifest sha256 `{m.get('manifest_sha256', '?')}`."
        + dataset_note(m),
        "",
        "## Reproduce",
        "",
        "```",
        "bash /work/shared/bench/make_dataset.sh   # once: builds /tmp/bench/data",
        "bash benchmarks/run.sh",
        "python3 benchmarks/report.py --write docs/benchmarks.md",
        "```",
        "",
        f"This run: `{m.get('command', 'bash benchmarks/run.sh')}`. `RESGUARDO=/path/to/resguardo` "
        "picks a binary from a virtualenv; `--repeat` adds step (i').",
        "",
        "## Method",
        "",
        "- Per engine: a fresh `cp -a` copy of the dataset at `/tmp/bench/work`; init; (i) initial "
        "backup; (ii) backup with nothing changed; (iii) `modify_dataset.py` (append 1 MiB to 50 files, "
        "touch 1000, add a 100 MiB incompressible file, delete 100) then backup; (iv) restore of the "
        "latest snapshot and `diff -r --no-dereference` against the source; (v) full read-data check "
        "(`restic check --read-data`, `borg check --verify-data`, `resguardo check --read-data`).",
        "- Settings: restic repository v2 with `--compression auto`; Borg `repokey` with `-C zstd,3`; "
        "resguardo with its defaults. Passphrases from the environment, a separate cache per repository.",
        "- Warm cache: the page cache cannot be dropped here, so before each timed step `sync` runs and "
        "every file of the dataset (and, for restore and check, the repository) is read once; every "
        "engine reads from a warm cache. These are CPU-bound figures.",
        "- Each step runs under `/usr/bin/time -v`: wall clock, CPU = user + sys, peak RSS. "
        "MB = 10^6 bytes. A single step varies by about ±15% between runs on this 2-vCPU virtual "
        "machine: treat smaller differences as noise.",
        "- Shared machine: before each step the harness waits (up to 2 minutes) until other work "
        "uses less than a fifth of a core, and it records the CPU time other work used during the "
        "step; steps where that work competed for the cores are listed under the table.",
        f'- Ratios: speed = restic wall ÷ resguardo wall ("3.0{X} faster"); size and memory = '
        "resguardo ÷ restic and resguardo ÷ Borg.",
        "",
    ]
    return lines + tables(run)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "results",
        nargs="?",
        type=Path,
        default=DEFAULT_RESULTS,
        help="results directory of run.sh or its results.tsv (default: %(default)s)",
    )
    ap.add_argument(
        "--write",
        type=Path,
        metavar="PATH",
        help="write the full page there (relative to the repository root), e.g. docs/benchmarks.md",
    )
    args = ap.parse_args(argv)
    run = load(args.results)
    if not run.steps:
        print(f"report.py: {run.path} has no measured steps", file=sys.stderr)
        return 1
    if args.write:
        dest = args.write if args.write.is_absolute() else REPO_ROOT / args.write
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("\n".join(page(run)).rstrip() + "\n")
        print(f"wrote {dest}")
    else:
        print("\n".join(tables(run)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
