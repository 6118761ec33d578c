#!/usr/bin/env python3
"""dev-prism benchmark harness.

Builds the release binary, creates N sessions (N = 1, 10, 30) of a fixture project on the
local engine, and measures, with several runs each (median and spread):

- list, info, plan, heal on converged sessions, as ratios to floors measured in the same run:
  one Engine API list call over the socket (curl --unix-socket) and `docker ps --filter`;
- how those figures change from N = 1 to N = 30;
- create of a 3-service fixture (one with a healthcheck) against a bare
  `docker compose up -d --wait` of the same services; start likewise;
- stop-all and destroy --all of 10 sessions against one session's stop / destroy;
- peak RSS of list and create.

Everything it creates lives under one temp directory and one label prefix, and is removed at
the end (also on failure). Results go to docs/benchmarks.md.

Usage: python3 benches/bench.py [--runs 15] [--out docs/benchmarks.md]
       python3 benches/bench.py --copies [--runs 5]   (ready sessions, issue 13: see
       benches/bench_copies.py; writes only its own section of docs/benchmarks.md)

`--scale` measures instead how create and `list` behave from 1 to 200 sessions on one engine
(one-service fixture, sessions created in parallel batches): per-session create time at each
step and `list` against the curl floor, written as the "From 1 to 200 sessions" section of the
report (the rest of the file is kept). Everything is removed at the end, also on failure.

Usage: python3 benches/bench.py --scale [--steps 1,10,50,100,200] [--batch 10] [--runs 7]

In `--scale` mode the sessions are worktrees of one temp repository; at each step the four read
commands (`list`, `info`, `plan`, `heal`) are measured against the curl floor, and `list --size`
beside one raw `GET /system/df`; at the end `destroy --all -y --force --under DIR` of every
session is timed and what the engine and git still hold of them is counted. The 1-minute load
average is recorded at each step (the machine is shared).

`--podman` measures the read commands (`list`, `info`, `plan`, `env`, `heal`) against one list
call with curl, paired, at N = 1, 20, 40 sessions, and create/destroy of a 3-service session
against a bare `up -d --wait` / `down -v`, on the engine DOCKER_HOST names (a Podman socket);
it writes a `### LABEL` section of --out (section "Podman (issue 22)").

Usage: DOCKER_HOST=unix:///run/podman/podman.sock python3 benches/bench.py --podman --no-build
       [--runs 11] [--label "Rootful Podman"]

`--volume` measures only the volume-copy step of `create --data-from .` against a
`docker run --rm` doing `cp -a` between two volumes, and lists that step's engine calls
(section "The volume copy (issue 21)").
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "dev-prism")
IMAGE = "dev-prism-test-busybox:2"
# The engine's socket: DOCKER_HOST's when it names one (e.g. a Podman socket), else Docker's.
SOCKET = (os.environ.get("DOCKER_HOST", "")[len("unix://"):]
          if os.environ.get("DOCKER_HOST", "").startswith("unix://") else "/var/run/docker.sock")

ONE = """services:
  svc:
    image: dev-prism-test-busybox:2
    command: ["sleep", "100000"]
    init: true
    stop_grace_period: 1s
    ports: ["7000"]
"""

THREE = """services:
  web:
    image: dev-prism-test-busybox:2
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    init: true
    ports: ["8080:80"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 1s
      retries: 30
  echo:
    image: dev-prism-test-busybox:2
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
    init: true
    ports: ["7000"]
    stop_grace_period: 1s
  idle:
    image: dev-prism-test-busybox:2
    command: ["sleep", "100000"]
    init: true
    stop_grace_period: 1s
"""


def sh(args, cwd=None, check=True, env=None):
    r = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def timed(args, cwd=None):
    """Wall time (s) and peak RSS (KiB) of one run."""
    start = time.perf_counter()
    p = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    err = p.stderr.read().decode() if p.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {err}")
    return elapsed, usage.ru_maxrss


def measure(args, runs, cwd=None, warmup=2):
    for _ in range(warmup):
        timed(args, cwd)
    times, rss = [], []
    for _ in range(runs):
        t, m = timed(args, cwd)
        times.append(t)
        rss.append(m)
    return times, rss


def stats(times):
    q = statistics.quantiles(times, n=4) if len(times) >= 4 else [min(times), 0, max(times)]
    return statistics.median(times), q[0], q[2]


def ms(x):
    return f"{x * 1000:.1f} ms"


def ensure_image():
    if sh(["docker", "image", "inspect", IMAGE], check=False).returncode == 0:
        return
    root = tempfile.mkdtemp()
    try:
        for d in ["bin", "tmp", "www", "data"]:
            os.makedirs(os.path.join(root, d))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        # The same applets as tests/it/support.rs builds into this tag (`cp` included).
        for a in ["sh", "httpd", "nc", "wget", "sleep", "echo", "cat", "ls", "true", "false", "touch", "cp"]:
            os.symlink("busybox", os.path.join(root, "bin", a))
        with open(os.path.join(root, "www", "index.html"), "w") as f:
            f.write("hello from dev-prism test\n")
        subprocess.run(f"tar -C '{root}' -c . | docker import -c 'CMD [\"/bin/sh\"]' - {IMAGE} >/dev/null",
                       shell=True, check=True)
    finally:
        shutil.rmtree(root)


def make_project(base, name, compose):
    d = os.path.join(base, name)
    os.makedirs(d)
    with open(os.path.join(d, "docker-compose.yml"), "w") as f:
        f.write(compose)
    return os.path.realpath(d)


def dp(*args, cwd=None, check=True):
    return sh([BIN, "-q", *args], cwd=cwd, check=check)


def cleanup(base):
    # Everything labelled with a directory under the bench's temp dir, and their projects.
    out = sh(["docker", "ps", "-a", "--filter", "label=dev-prism.managed=true", "--format",
              '{{.ID}}\t{{.Label "dev-prism.working_dir"}}\t{{.Label "com.docker.compose.project"}}'],
             check=False).stdout
    projects = set()
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1].startswith(base):
            sh(["docker", "rm", "-f", "-v", parts[0]], check=False)
            if len(parts) > 2:
                projects.add(parts[2])
    for p in list(projects) + BARE_PROJECTS:
        for kind in ["network", "volume"]:
            ids = sh(["docker", kind, "ls", "-q", "--filter", f"label=com.docker.compose.project={p}"],
                     check=False).stdout.split()
            for i in ids:
                sh(["docker", kind, "rm", i], check=False)
    shutil.rmtree(base, ignore_errors=True)


BARE_PROJECTS = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, help="runs per figure (default 15; --copies: 5)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--scale", action="store_true", help="create and list from 1 to 200 sessions")
    ap.add_argument("--steps", default="1,10,50,100,200")
    ap.add_argument("--batch", type=int, default=10, help="creates run at once (--scale)")
    ap.add_argument("--copies", action="store_true", help="ready sessions (issue 13) instead")
    ap.add_argument("--no-build", action="store_true", help="use target/release/dev-prism as it is")
    ap.add_argument("--volume", action="store_true", help="only the volume copy of --data-from (issue 21)")
    ap.add_argument("--fixture-scale", type=float, default=1.0, help="--copies: fixture size factor")
    ap.add_argument("--podman", action="store_true",
                    help="read commands and create/destroy on the engine DOCKER_HOST names (issue 22)")
    ap.add_argument("--label", default="rootful", help="--podman: the name of this run in the report")
    ap.add_argument("--old", help="--podman: an older dev-prism binary measured beside this one (list, create)")
    args = ap.parse_args()
    if args.no_build:
        global sh
        real_sh = sh
        sh = lambda a, *k, **kw: None if a[:2] == ["cargo", "build"] else real_sh(a, *k, **kw)  # noqa: E731
    if args.copies:
        args.runs = args.runs or 5
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_copies
        return bench_copies.main(args, sys.modules[__name__])
    if args.volume:
        args.runs = args.runs or 7
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_copies
        return bench_copies.volume_main(args, sys.modules[__name__])
    if args.podman:
        args.runs = args.runs or 11
        return podman_main(args)
    args.runs = args.runs or 15
    if args.scale:
        return scale_main(args)

    sh(["cargo", "build", "--release", "-q"], cwd=ROOT)
    ensure_image()
    base = os.path.realpath(tempfile.mkdtemp(prefix="dp-bench-"))
    rows, notes = [], []
    try:
        results = run_all(base, args.runs, rows, notes)
    finally:
        cleanup(base)
    write_report(args.out, rows, notes, args.runs)
    print(open(args.out).read())
    return results


def run_all(base, runs, rows, notes):
    curl = ["curl", "-s", "--unix-socket", SOCKET, "-o", "/dev/null",
            "http://localhost/containers/json?all=1&filters=%7B%22label%22%3A%5B%22dev-prism.managed%3Dtrue%22%5D%7D"]
    sessions = []  # session dirs with running 1-service fixtures
    scaling = {}
    for n in [1, 10, 30]:
        while len(sessions) < n:
            d = make_project(base, f"s{len(sessions):02d}", ONE)
            dp("create", "--in-place", cwd=d)
            sessions.append(d)
        probe = sessions[0]
        floor_curl = stats(measure(curl, runs)[0])[0]
        floor_ps = stats(measure(["docker", "ps", "-a", "--filter", "label=dev-prism.managed=true"], runs)[0])[0]
        scaling[n] = {"curl": floor_curl, "docker ps": floor_ps}
        for name, cmd in [("list", [BIN, "list"]), ("info", [BIN, "info"]),
                          ("plan", [BIN, "plan"]), ("heal", [BIN, "heal"])]:
            t, rss = measure(cmd, runs, cwd=probe)
            med, q1, q3 = stats(t)
            scaling[n][name] = med
            if name == "list":
                scaling[n]["list_rss"] = max(rss)
            rows.append((f"`{name}` (N={n})", med, q1, q3, med / floor_curl, med / floor_ps))
        rows.append((f"floor: curl list call (N={n})", floor_curl, None, None, 1.0, floor_curl / floor_ps))
        rows.append((f"floor: `docker ps --filter` (N={n})", floor_ps, None, None, floor_ps / floor_curl, 1.0))
    notes.append(("scaling", scaling))
    # Docker's default address pools hold about 30 bridge networks: free them first.
    dp("destroy", "--all", "--under", base)

    # create vs bare compose up --wait (3 services, one with a healthcheck).
    create_t, create_rss, bare_t, start_t, bare_start_t = [], [], [], [], []
    cruns = max(3, runs // 3)
    for i in range(cruns):
        d = make_project(base, f"c{i:02d}", THREE)
        t, m = timed([BIN, "-q", "create", "--in-place"], cwd=d)
        create_t.append(t)
        create_rss.append(m)
        dp("stop", cwd=d)
        t, _ = timed([BIN, "-q", "start"], cwd=d)
        start_t.append(t)
        dp("destroy", cwd=d)
        b = make_project(base, f"b{i:02d}", THREE.replace('"8080:80"', '"80"'))
        project = f"dpbench{i}{os.getpid()}"
        BARE_PROJECTS.append(project)
        t, _ = timed(["docker", "compose", "-p", project, "up", "-d", "--wait"], cwd=b)
        bare_t.append(t)
        sh(["docker", "compose", "-p", project, "stop"], cwd=b)
        t, _ = timed(["docker", "compose", "-p", project, "up", "-d", "--wait"], cwd=b)
        bare_start_t.append(t)
        sh(["docker", "compose", "-p", project, "down", "-v"], cwd=b)
    c, cq1, cq3 = stats(create_t)
    bmed, bq1, bq3 = stats(bare_t)
    s, sq1, sq3 = stats(start_t)
    bs, bsq1, bsq3 = stats(bare_start_t)
    rows.append(("`create` (3 services)", c, cq1, cq3, c / bmed, None))
    rows.append(("floor: `docker compose up -d --wait`", bmed, bq1, bq3, 1.0, None))
    rows.append(("`start` (3 services)", s, sq1, sq3, s / bs, None))
    rows.append(("floor: `docker compose up -d --wait` of stopped", bs, bsq1, bsq3, 1.0, None))
    notes.append(("rss", {"list": scaling[30]["list_rss"], "create": max(create_rss)}))

    # Bulk: stop-all / destroy --all of 10 sessions against one session's stop / destroy.
    bulk = {}
    one = make_project(base, "single", ONE)
    dp("create", "--in-place", cwd=one)
    bulk["stop 1"], _ = timed([BIN, "-q", "stop"], cwd=one)
    bulk["destroy 1"], _ = timed([BIN, "-q", "destroy"], cwd=one)
    ten_base = os.path.join(base, "ten")
    os.makedirs(ten_base)
    ten = [make_project(ten_base, f"t{i}", ONE) for i in range(10)]
    procs = [subprocess.Popen([BIN, "-q", "create", "--in-place"], cwd=d, stdout=subprocess.DEVNULL) for d in ten]
    for p in procs:
        p.wait()
    bulk["stop-all 10"], _ = timed([BIN, "-q", "stop-all", "--under", ten_base])
    # The profile behind the bulk figures: start them again, then one verbose stop-all.
    procs = [subprocess.Popen([BIN, "-q", "start"], cwd=d, stdout=subprocess.DEVNULL) for d in ten]
    for p in procs:
        p.wait()
    profile = sh([BIN, "-q", "-v", "stop-all", "--under", ten_base]).stderr
    notes.append(("profile", [l for l in profile.splitlines() if "/stop" in l]))
    bulk["destroy --all 10"], _ = timed([BIN, "-q", "destroy", "--all", "--under", ten_base])
    raw = engine_bulk_floor()
    rows.append(("`stop-all` (10 sessions)", bulk["stop-all 10"], None, None, bulk["stop-all 10"] / bulk["stop 1"],
                 bulk["stop-all 10"] / raw["stop 10"]))
    rows.append(("`stop` (1 session)", bulk["stop 1"], None, None, 1.0, bulk["stop 1"] / raw["stop 1"]))
    rows.append(("floor: engine, `docker stop` 10 containers at once", raw["stop 10"], None, None,
                 raw["stop 10"] / raw["stop 1"], 1.0))
    rows.append(("`destroy --all` (10 sessions)", bulk["destroy --all 10"], None, None,
                 bulk["destroy --all 10"] / bulk["destroy 1"], bulk["destroy --all 10"] / raw["rm 10"]))
    rows.append(("`destroy` (1 session)", bulk["destroy 1"], None, None, 1.0, bulk["destroy 1"] / raw["rm 1"]))
    rows.append(("floor: engine, remove 10 containers + 10 networks at once", raw["rm 10"], None, None,
                 raw["rm 10"] / raw["rm 1"], 1.0))
    return rows


CURL_LIST = ["curl", "-s", "--unix-socket", SOCKET, "-o", "/dev/null",
             "http://localhost/containers/json?all=1&filters=%7B%22label%22%3A%5B%22dev-prism.managed%3Dtrue%22%5D%7D"]


DF = ["curl", "-s", "--unix-socket", SOCKET, "-o", "/dev/null", "http://localhost/system/df"]


def scale_main(args):
    steps = [int(n) for n in args.steps.split(",")]
    runs = args.runs if args.runs != 15 else 7
    sh(["cargo", "build", "--release", "-q"], cwd=ROOT)
    ensure_image()
    base = os.path.realpath(tempfile.mkdtemp(prefix="dp-bench-scale-"))
    started = time.perf_counter()
    table, failure, end = [], None, {}
    try:
        failure = run_scale(base, steps, args.batch, runs, table)
        if failure is None:
            end = destroy_all(base)
    finally:
        # Parallel destroy first (fast), then the label sweep for anything it left.
        dp("destroy", "--all", "-y", "--force", "--under", base, cwd=base, check=False)
        cleanup(base)
    write_scale(args.out, table, failure, end, args.batch, runs, time.perf_counter() - started)
    print(open(args.out).read())
    return table


def scale_repo(base):
    """A git repository whose sessions are worktrees (under `base/app-sessions`)."""
    repo = os.path.join(base, "app")
    os.makedirs(repo)
    files = {"docker-compose.yml": ONE, "README.md": "scale fixture\n",
             "session.config.yaml": "sessionsDir: ../app-sessions\n"}
    for name, text in files.items():
        with open(os.path.join(repo, name), "w") as f:
            f.write(text)
    for a in [["init", "-q", "-b", "main"], ["config", "user.email", "bench@example.com"],
              ["config", "user.name", "bench"], ["add", "-A"], ["commit", "-q", "-m", "fixture"]]:
        sh(["git", "-C", repo, *a])
    return repo


def run_scale(base, steps, batch, runs, table):
    """Grows the sessions step by step; returns why it stopped early, or None."""
    repo = scale_repo(base)
    made = []
    for n in steps:
        creates = []
        step_start = time.perf_counter()
        while len(made) < n:
            names = [f"n{len(made) + i:03d}" for i in range(min(batch, n - len(made)))]
            procs = [(time.perf_counter(), subprocess.Popen([BIN, "-q", "create", "--branch", name], cwd=repo,
                                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
                     for name in names]
            for t0, p in procs:
                out, err = p.communicate()
                creates.append(time.perf_counter() - t0)
                if p.returncode != 0:
                    return f"create of session {len(made) + 1} failed at N={n}: {err.decode().strip()}"
                made.append(out.decode().splitlines()[0].strip())
        step_wall = time.perf_counter() - step_start
        load = os.getloadavg()[0]
        row = {"n": n, "new": len(creates), "create_median": statistics.median(creates),
               "create_max": max(creates), "per_session": step_wall / len(creates), "load": load,
               "engine": len(sh(["docker", "ps", "-aq", "--filter", "label=dev-prism.managed=true"]).stdout.split())}
        # Floor and commands alternate in the same stretch of time, the floor first and last.
        row["floor"] = stats(measure(CURL_LIST, runs)[0])[0]
        for name, cmd in [("list", [BIN, "list"]), ("info", [BIN, "info"]),
                          ("plan", [BIN, "plan"]), ("heal", [BIN, "heal"])]:
            row[name] = stats(measure(cmd, runs, cwd=made[0])[0])[0]
        row["floor2"] = stats(measure(CURL_LIST, runs)[0])[0]
        row["df"] = stats(measure(DF, max(3, runs // 2), warmup=1)[0])[0]
        row["size"] = stats(measure([BIN, "list", "--size"], max(3, runs // 2), cwd=made[0], warmup=1)[0])[0]
        table.append(row)
        print(f"N={n}: {row}", file=sys.stderr)
    return None


def destroy_all(base):
    """`destroy --all` of every session under `base`, timed; then what the engine still
    holds of them (containers, networks, volumes labelled with a directory under `base`)."""
    out = sh(["docker", "ps", "-a", "--filter", "label=dev-prism.managed=true", "--format",
              '{{.Label "dev-prism.working_dir"}}\t{{.Label "com.docker.compose.project"}}']).stdout
    projects = {l.split("\t")[1] for l in out.splitlines() if l.startswith(base) and "\t" in l}
    BARE_PROJECTS.extend(projects)  # the cleanup sweeps their networks and volumes too
    before = os.getloadavg()[0]
    t0 = time.perf_counter()
    r = sh([BIN, "-q", "destroy", "--all", "-y", "--force", "--under", base], cwd=base, check=False)
    wall = time.perf_counter() - t0
    out = sh(["docker", "ps", "-a", "--filter", "label=dev-prism.managed=true", "--format",
              '{{.Label "dev-prism.working_dir"}}']).stdout
    left = {"container": sum(1 for l in out.splitlines() if l.startswith(base))}
    for kind in ["network", "volume"]:
        out = sh(["docker", kind, "ls", "--format", '{{.Label "com.docker.compose.project"}}'], check=False).stdout
        left[kind] = sum(1 for l in out.splitlines() if l.strip() in projects)
    sessions = os.path.join(base, "app-sessions")
    left["directory"] = len(os.listdir(sessions)) if os.path.isdir(sessions) else 0
    worktrees = sh(["git", "-C", os.path.join(base, "app"), "worktree", "list"], check=False).stdout
    left["worktree"] = max(0, len(worktrees.splitlines()) - 1)
    print(f"destroy --all: {wall:.1f} s, rc {r.returncode}, left {left}", file=sys.stderr)
    return {"wall": wall, "rc": r.returncode, "left": left, "load": before,
            "err": r.stderr.strip()[-2000:]}


def write_scale(path, table, failure, end, batch, runs, total):
    engine = sh(["docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"], check=False).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [
        "## From 1 to 200 sessions",
        "",
        f"Produced by `python3 benches/bench.py --scale` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(the whole run: {total:.0f} s), once. Machine: {os.cpu_count()} cores ({cpu}), shared with other work "
        "(the load column is the 1-minute load average when each step's measuring began); "
        f"{platform.system()} {platform.release()}; Docker engine {engine}; release build; default settings "
        "(session subnets from the default `subnetPool`).",
        f"A git repository with a one-service fixture; each step adds worktree sessions (`create --branch`), "
        f"{batch} creates at once, until N run. `create` columns are the wall time of each create in that step "
        "(median, slowest) and the step's wall time divided by the sessions it added. The read commands "
        f"are medians of {runs} runs after 2 warm-ups with N sessions running, in one session's directory; "
        "`list --size` and its raw `GET /system/df` of fewer. Floor: one Engine API list call with "
        "curl --unix-socket, measured before and after the read commands (the ratios use the mean of "
        "the two). Engine: the dev-prism containers the engine held (other work on this engine included).",
        "",
        "| N | engine | load | create median | create slowest | step wall / session | floor | `list` | × | "
        "`info` | × | `plan` | × | `heal` | × | `GET /system/df` | `list --size` |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        floor = (r["floor"] + r["floor2"]) / 2
        cells = [str(r["n"]), str(r["engine"]), f"{r['load']:.1f}", ms(r["create_median"]), ms(r["create_max"]),
                 ms(r["per_session"]), ms(floor)]
        for k in ["list", "info", "plan", "heal"]:
            cells += [ms(r[k]), f"{r[k] / floor:.2f}"]
        cells += [ms(r["df"]), ms(r["size"])]
        lines.append("| " + " | ".join(cells) + " |")
    if end:
        n = table[-1]["n"] if table else 0
        plural = {"directory": "directories"}
        left = ", ".join(f"{v} {plural.get(k, k + 's')}" for k, v in end["left"].items())
        lines += ["", f"`destroy --all -y --force --under DIR` of the {n} sessions: {end['wall']:.1f} s "
                      f"({end['wall'] / max(n, 1) * 1000:.0f} ms a session), exit code {end['rc']}, load "
                      f"{end['load']:.1f} when it began. Left afterwards: {left}."]
        if end["rc"] != 0:
            lines += ["", "```", end["err"], "```"]
    if failure:
        lines += ["", f"Stopped early: {failure}"]
    section = "\n".join(lines) + "\n"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    head, sep, tail = text.partition("## From 1 to 200 sessions")
    if sep:
        # Replace the old section up to the next heading; a hand-written reading (a `###`
        # heading after the table) is kept.
        rest = tail.split("\n## ", 1)
        keep = rest[0].split("\n### ", 1)
        tail = ("\n### " + keep[1] if len(keep) > 1 else "") + (("\n## " + rest[1]) if len(rest) > 1 else "")
        text = head + section + tail
    else:
        marker = "## Profile:"
        i = text.find(marker)
        text = text[:i] + section + "\n" + text[i:] if i >= 0 else text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def engine_bulk_floor():
    """The engine's own cost of stopping / removing 1 and 10 containers (each on its own
    network, like sessions) in parallel, with the docker CLI."""
    tag = f"dpb{os.getpid()}"
    out = {}
    for n in [1, 10]:
        names = [f"{tag}-{n}-{i}" for i in range(n)]
        for name in names:
            sh(["docker", "network", "create", name])
            sh(["docker", "run", "-d", "--init", "--name", name, "--network", name, IMAGE, "sleep", "100000"])
        try:
            out[f"stop {n}"], _ = timed(["docker", "stop", *names])
            start = time.perf_counter()
            sh(["docker", "rm", "-f", "-v", *names])
            procs = [subprocess.Popen(["docker", "network", "rm", name], stdout=subprocess.DEVNULL) for name in names]
            for p in procs:
                p.wait()
            out[f"rm {n}"] = time.perf_counter() - start
        finally:
            for name in names:
                sh(["docker", "rm", "-f", name], check=False)
                sh(["docker", "network", "rm", name], check=False)
    return out


def write_report(path, rows, notes, runs):
    engine = sh(["docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"], check=False).stdout.strip()
    compose = sh(["docker", "compose", "version", "--short"], check=False).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `python3 benches/bench.py` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
        f"Docker engine {engine}; Compose {compose}; release build.",
        f"Each figure is the median of {runs} runs after 2 warm-up runs (create/start: fewer, see table), "
        "with the interquartile range; ratios are to floors measured in the same run. Floors: "
        "read commands — one Engine API list call with curl (first) and `docker ps --filter` (second); "
        "create/start — a bare `docker compose up -d --wait` of the same services; bulk commands — "
        "the single-session command (first) and the engine doing the same work for 10 at once "
        "through the docker CLI (second).",
        "",
        "| what | median | IQR | × floor | × second floor |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, med, q1, q3, r1, r2 in rows:
        iqr = f"{ms(q1)} – {ms(q3)}" if q1 is not None else ""
        lines.append(f"| {name} | {ms(med)} | {iqr} | {r1:.2f} | {'' if r2 is None else f'{r2:.2f}'} |")
    for kind, data in notes:
        if kind == "scaling":
            lines += ["", "## From 1 to 30 sessions (medians)", "",
                      "| N | curl floor | list | info | plan | heal |", "| --- | --- | --- | --- | --- | --- |"]
            for n, d in data.items():
                lines.append(f"| {n} | {ms(d['curl'])} | {ms(d['list'])} | {ms(d['info'])} | {ms(d['plan'])} | {ms(d['heal'])} |")
        if kind == "profile":
            lines += ["", "## Profile: `dev-prism -v stop-all` of 10 sessions", "",
                      "Every stop request is sent at once; the engine answers them one after another "
                      "(each line is one request's own duration, in completion order):", "", "```"]
            lines += [l.replace(ROOT, ".") for l in data] + ["```"]
        if kind == "rss":
            lines += ["", f"Peak RSS: `list` (30 sessions) {data['list'] / 1024:.1f} MiB, "
                          f"`create` {data['create'] / 1024:.1f} MiB."]
    lines += ["", "## Reading the figures", "",
              "Targets: `list`/`info` ≤ 1.5× the curl floor, `plan`/`heal` ≤ 2×, `create` ≤ 1.1× bare "
              "`up --wait`, 10-session bulk commands ≤ 1.3× a single one.", "",
              "- `list`, `info`, `plan`, `heal` make one Engine API list call (plus, for `plan`/`heal`, reading "
              "the config and compose file and one `git rev-parse`); they stay flat from 1 to 30 sessions "
              "because the label filter runs in the engine (the floor itself grows with the containers "
              "the engine has to scan).",
              "- `create` and `start` run `docker compose up -d` and then wait for readiness by polling the "
              "API every ≤100 ms (a list call costs about 1 ms), so they land within a few percent of — "
              "and in some runs before — `docker compose up --wait`. The rest is one `docker compose "
              "version` (~50 ms) to pick the Compose flavour and writing the files.",
              "- Bulk commands run every session in parallel, but this engine serialises the work itself: "
              "stopping 10 containers or removing 10 networks at once through the plain docker CLI costs "
              "7–8× one (the engine rows). Measured against that engine floor, `stop-all` and "
              "`destroy --all` are within the 1.3× target; against a single session they cannot be, on "
              "this engine, whatever the client does. Profile: `dev-prism -v stop-all` logs every stop "
              "call with its duration: all are issued at once and complete one after another.",
              "- Docker's default address pools hold about 30 bridge networks, and every session has one: "
              "the harness destroys the 30 scaling sessions before measuring `create`.",
              ""]
    # Sections measured by other modes (`--scale`, `--copies`) are kept as they are.
    old = open(path).read() if os.path.exists(path) else ""
    kept = [kept_section(old, h) for h in ("## From 1 to 200 sessions", "## Ready sessions (issue 13)")]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "".join("\n" + k for k in kept if k))


def kept_section(text, heading):
    """The section of `text` under `heading` (its first occurrence), up to the next `## `."""
    if heading not in text:
        return ""
    rest = text[text.index(heading):]
    end = rest.find("\n## ", len(heading))
    return rest if end < 0 else rest[: end + 1]


# No healthcheck: without systemd Podman never runs one by itself, so a bare
# `up --wait` of a healthchecked service would wait forever (dev-prism runs the checks).
# And no `init: true`: Podman needs its own init binary for it (package catatonit).
PODMAN_FIXTURE = (THREE.replace('"8080:80"', '"80"').split("    healthcheck:")[0] + "  echo:"
                  + THREE.split("  echo:", 1)[1]).replace("    init: true\n", "")
PODMAN_ONE = ONE.replace("    init: true\n", "")


def paired(a, b, runs, cwd=None):
    """A and B alternately (A B A B …) after one warm-up each: medians of both and the
    median of the pairwise ratios B/A."""
    timed(a, cwd)
    timed(b, cwd)
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a, cwd)[0])
        tb.append(timed(b, cwd)[0])
    return statistics.median(ta), statistics.median(tb), statistics.median(y / x for x, y in zip(ta, tb))


def podman_main(args):
    """Issue 22: the read commands against one list call on the engine's own socket, paired,
    at N = 1, 20, 40 sessions; create/destroy of a 3-service session against a bare
    `docker compose up -d --wait` / `down -v` of the same services, paired."""
    sh(["cargo", "build", "--release", "-q"], cwd=ROOT)
    ensure_image()
    base = os.path.realpath(tempfile.mkdtemp(prefix="dp-bench-podman-"))
    started = time.perf_counter()
    steps, made = [], []
    try:
        for n in [1, 20, 40]:
            while len(made) < n:
                batch = [make_project(base, f"s{len(made) + i:02d}", PODMAN_ONE)
                         for i in range(min(5, n - len(made)))]
                procs = [subprocess.Popen([BIN, "-q", "create", "--in-place"], cwd=d, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE) for d in batch]
                for p in procs:
                    _, err = p.communicate()
                    if p.returncode != 0:
                        raise RuntimeError(f"create failed: {err.decode()}")
                made += batch
            row = {"n": n, "load": os.getloadavg()[0], "reads": {}}
            for name in ["list", "info", "plan", "env", "heal"]:
                row["reads"][name] = paired(CURL_LIST, [BIN, name], args.runs, cwd=made[0])
            if args.old:
                row["reads"]["list (old binary)"] = paired(CURL_LIST, [args.old, "list"], args.runs, cwd=made[0])
            crun = max(3, args.runs // 2)
            c, b, r = [], [], []
            dc, db, dr = [], [], []
            oc, od = [], []
            for i in range(crun + 1):
                d = make_project(base, f"c{n}-{i}", PODMAN_FIXTURE)
                project = f"dpbench{n}x{i}x{os.getpid()}"
                BARE_PROJECTS.append(project)
                bare = ["docker", "compose", "-p", project, "up", "-d", "--wait"]
                t1, _ = timed(bare, cwd=d)
                t3, _ = timed(["docker", "compose", "-p", project, "down", "-v", "-t", "1"], cwd=d)
                t2, _ = timed([BIN, "-q", "create", "--in-place"], cwd=d)
                t4, _ = timed([BIN, "-q", "destroy", "--force"], cwd=d)
                if args.old:
                    old = make_project(base, f"o{n}-{i}", PODMAN_FIXTURE)
                    t5, _ = timed([args.old, "-q", "create", "--in-place"], cwd=old)
                    t6, _ = timed([args.old, "-q", "destroy", "--force"], cwd=old)
                if i == 0:
                    continue  # warm-up
                c.append(t2), b.append(t1), r.append(t2 / t1)
                dc.append(t4), db.append(t3), dr.append(t4 / t3)
                if args.old:
                    oc.append((t5, t1)), od.append((t6, t3))
            row["create"] = (statistics.median(b), statistics.median(c), statistics.median(r))
            row["destroy"] = (statistics.median(db), statistics.median(dc), statistics.median(dr))
            if args.old:
                row["create (old binary)"] = (statistics.median(b), statistics.median(t for t, _ in oc),
                                              statistics.median(t / f for t, f in oc))
                row["destroy (old binary)"] = (statistics.median(db), statistics.median(t for t, _ in od),
                                               statistics.median(t / f for t, f in od))
            row["load_end"] = os.getloadavg()[0]
            steps.append(row)
            print(f"N={n}: {row}", file=sys.stderr)
    finally:
        dp("destroy", "--all", "-y", "--force", "--under", base, cwd=base, check=False)
        cleanup(base)
    write_podman(args, steps, time.perf_counter() - started)
    return steps


def write_podman(args, steps, total):
    engine = sh(["docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"],
                check=False).stdout.strip()
    compose = sh(["docker", "compose", "version", "--short"], check=False).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [
        f"### {args.label}",
        "",
        f"`DOCKER_HOST=unix://{SOCKET} python3 benches/bench.py --podman --runs {args.runs}"
        f"{' --old OLD' if args.old else ''}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC (the whole run: {total:.0f} s). "
        f"Machine: {os.cpu_count()} cores ({cpu}), shared with other work; {platform.system()} "
        f"{platform.release()}; engine {engine}; Compose {compose}; release build.",
        "",
        "| N | load | what | floor | dev-prism | × floor (paired median) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in steps:
        load = f"{row['load']:.1f}–{row['load_end']:.1f}"
        for name, (f, d, r) in row["reads"].items():
            command, _, old = name.partition(" ")
            lines.append(f"| {row['n']} | {load} | `{command}`{' ' + old if old else ''} | {ms(f)} | {ms(d)} | {r:.2f} |")
        for name, floor in [("create", "`up -d --wait`"), ("destroy", "`down -v`"),
                            ("create (old binary)", "`up -d --wait`"), ("destroy (old binary)", "`down -v`")]:
            if name not in row:
                continue
            f, d, r = row[name]
            command, _, old = name.partition(" ")
            what = f"`{command}` (3 services{', ' + old[1:-1] if old else ''}) vs {floor}"
            lines.append(f"| {row['n']} | {load} | {what} | {ms(f)} | {ms(d)} | {r:.2f} |")
    section = "\n".join(lines) + "\n"
    text = open(args.out).read() if os.path.exists(args.out) else "# Benchmarks\n"
    heading = f"### {args.label}\n"
    if heading in text:
        head, _, tail = text.partition(heading)
        rest = tail.split("\n#", 1)
        text = head + section + ("\n#" + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(args.out, "w") as f:
        f.write(text)
    print(section)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
