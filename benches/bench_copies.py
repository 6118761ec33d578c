"""`python3 benches/bench.py --copies`: ready sessions (issue 13) against their floors.

Builds, in a temp dir, a git repository with ~20,000 small tracked files, a gitignored
`node_modules` of ~60,000 files (~240 MB) listed in `.worktreeinclude`, and a compose file with
one trivial service whose named volume (of a plain Compose project running in the main
checkout) holds ~300 MB. Then measures, several runs each (median), in one run:

- the copy step of `create` (`+ copy node_modules/`, timed from its progress lines) against
  `cp -a node_modules` on the same file system;
- the whole `create` against `git worktree add` + `cp -a node_modules` + a bare
  `docker compose up -d --wait` of the new worktree;
- the volume-copy step of `create --data-from .` (`+ data from …`) against a throwaway
  container (`docker run --rm`) doing `cp -a` between two volumes.

As root with `mkfs.xfs`, the first two again on a loop-mounted XFS image made with
`reflink=1` (copy-on-write). Everything made is removed at the end, also on failure.
"""

import datetime
import os
import random
import shutil
import subprocess
import tempfile
import time

SECTION = "## Ready sessions (issue 13)"

COMPOSE = """services:
  db:
    image: {image}
    command: ["sleep", "100000"]
    init: true
    stop_grace_period: 1s
    volumes: ["data:/data"]
volumes:
  data: {{}}
"""


class Run:
    """What one benchmark run made, for the cleanup."""

    def __init__(self, b, base):
        self.b = b
        self.base = base
        self.projects = []  # compose projects started without dev-prism
        self.volumes = []  # plain volumes
        self.mounts = []  # loop mounts, innermost last

    def cleanup(self):
        b = self.b
        b.sh([b.BIN, "-q", "destroy", "--all", "--force", "--under", self.base], check=False)
        for p in self.projects:
            ids = b.sh(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={p}"],
                       check=False).stdout.split()
            if ids:
                b.sh(["docker", "rm", "-f", "-v", *ids], check=False)
        b.BARE_PROJECTS.extend(self.projects)
        b.cleanup(self.base)  # containers labelled under base; networks and volumes of projects
        for v in self.volumes:
            b.sh(["docker", "volume", "rm", "-f", v], check=False)
        for m in reversed(self.mounts):
            if b.sh(["umount", m], check=False).returncode != 0:
                b.sh(["umount", "-l", m], check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def fixture(b, repo, scale, image):
    """The repository: tracked files committed, node_modules gitignored and included."""
    os.makedirs(repo)
    git = lambda *a: b.sh(["git", "-C", repo, *a])  # noqa: E731
    git("init", "-q", "-b", "main")
    git("config", "user.email", "bench@example.com")
    git("config", "user.name", "bench")
    rnd = random.Random(13)
    tracked = int(20000 * scale)
    for i in range(tracked):
        d = os.path.join(repo, "src", f"m{i // 100:03d}")
        if i % 100 == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"f{i % 100:02d}.js"), "w") as f:
            f.write(f"// module {i}\nexport const v{i} = {rnd.randrange(1 << 30)};\n" * 3)
    files = {
        ".gitignore": "node_modules/\n.env.session\ndocker-compose.session.yml\n",
        ".worktreeinclude": "node_modules/\n",
        "docker-compose.yml": COMPOSE.format(image=image),
    }
    for name, text in files.items():
        with open(os.path.join(repo, name), "w") as f:
            f.write(text)
    git("add", "-A")
    git("commit", "-q", "-m", "fixture")
    blob = os.urandom(1 << 20)
    count, total = int(60000 * scale), 0
    for i in range(count):
        d = os.path.join(repo, "node_modules", f"pkg{i // 100:03d}", "lib" if i % 2 else "dist")
        if i % 100 < 2:
            os.makedirs(d)
        size = rnd.randrange(1024, 7168)
        total += size
        start = rnd.randrange(0, len(blob) - size)
        with open(os.path.join(d, f"file{i % 100:02d}.js"), "wb") as f:
            f.write(blob[start:start + size])
    return tracked, count, total


def fill_volume(b, run, repo, project, scale):
    """The source: a plain Compose project in the main checkout, its volume ~300 MB."""
    b.sh(["docker", "compose", "-p", project, "up", "-d", "--wait"], cwd=repo)
    src = os.path.join(run.base, "volume-data")
    os.makedirs(src)
    n = max(1, int(300 * scale))
    for i in range(n):
        with open(os.path.join(src, f"seg{i:04d}"), "wb") as f:
            f.write(os.urandom(1 << 20))
    b.sh(["docker", "run", "--rm", "--network", "none", "-v", f"{project}_data:/data",
          "-v", f"{src}:/src:ro", b.IMAGE, "cp", "-a", "/src/.", "/data/"])
    shutil.rmtree(src)
    return n


def timed_create(b, repo, args):
    """Wall time of `create`, its directory, and each step's duration by subject prefix,
    timed from the arrival of its progress lines (`SUBJECT …` then `  done in …`)."""
    start = time.perf_counter()
    p = subprocess.Popen([b.BIN, "create", *args], cwd=repo, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    steps, current, lines = {}, None, []
    for line in p.stderr:
        now = time.perf_counter()
        lines.append(line)
        if line.startswith("  done in") and current:
            steps[current[0]] = now - current[1]
            current = None
        elif line.rstrip().endswith("…"):
            current = (line.strip(), now)
    out = p.stdout.read()
    elapsed = time.perf_counter() - start
    if p.wait() != 0:
        raise RuntimeError(f"create {' '.join(args)} failed:\n{''.join(lines)}")
    return elapsed, out.splitlines()[0].strip(), steps


def step(steps, prefix):
    found = [t for s, t in steps.items() if s.startswith(prefix)]
    if not found:
        raise RuntimeError(f"no step `{prefix}` in {list(steps)}")
    return found[0]


def measure_files(b, run, repo, tag, runs, with_volume, src_project):
    """Per run: cp -a floor, create (copy step and whole), the whole floor, and — with a
    volume — create --data-from and the throwaway-container floor."""
    r = {k: [] for k in ["cp", "copy step", "create", "floor create", "data step",
                         "create data", "floor volume"]}
    nm = os.path.join(repo, "node_modules")
    # Floors copy on the repository's own file system (beside it), as create does.
    home = os.path.dirname(repo)
    for i in range(runs + 1):  # the first round warms the caches and is discarded
        keep = i > 0
        dst = os.path.join(home, f"{tag}-cp{i}")
        t0 = time.perf_counter()
        b.sh(["cp", "-a", nm, dst])
        t_cp = time.perf_counter() - t0
        shutil.rmtree(dst)

        t_create, d, steps = timed_create(b, repo, ["--branch", f"{tag}-c{i}"])
        b.sh([b.BIN, "-q", "destroy", "--force", d], cwd=repo)

        wt = os.path.join(home, f"{tag}-floor{i}")
        project = f"dpbcopies{tag}{i}{os.getpid()}"
        run.projects.append(project)
        t0 = time.perf_counter()
        b.sh(["git", "-C", repo, "worktree", "add", "-q", "-b", f"{tag}-f{i}", wt])
        b.sh(["cp", "-a", nm, wt])
        b.sh(["docker", "compose", "-p", project, "up", "-d", "--wait"], cwd=wt)
        t_floor = time.perf_counter() - t0
        b.sh(["docker", "compose", "-p", project, "down", "-v", "-t", "1"], cwd=wt)
        b.sh(["git", "-C", repo, "worktree", "remove", "--force", wt])
        if keep:
            r["cp"].append(t_cp)
            r["create"].append(t_create)
            r["copy step"].append(step(steps, "+ copy node_modules/"))
            r["floor create"].append(t_floor)
        if not with_volume:
            continue

        t_data, d, steps = timed_create(b, repo, ["--branch", f"{tag}-d{i}", "--data-from", "."])
        b.sh([b.BIN, "-q", "destroy", "--force", d], cwd=repo)
        vol = f"dpbcopies-floor{i}-{os.getpid()}"
        run.volumes.append(vol)
        b.sh(["docker", "volume", "create", vol])
        t0 = time.perf_counter()
        b.sh(["docker", "run", "--rm", "--network", "none", "-v", f"{src_project}_data:/from:ro",
              "-v", f"{vol}:/to", b.IMAGE, "cp", "-a", "/from/.", "/to/"])
        t_vol = time.perf_counter() - t0
        b.sh(["docker", "volume", "rm", vol])
        if keep:
            r["create data"].append(t_data)
            r["data step"].append(step(steps, "+ data from"))
            r["floor volume"].append(t_vol)
    return r


def mount_xfs(b, run, size_gb):
    """A loop-mounted XFS image with reflink, or why not."""
    if os.geteuid() != 0:
        return None, "not root: cannot mount a loop device"
    if shutil.which("mkfs.xfs") is None:
        return None, "mkfs.xfs is missing (`apt-get install -y xfsprogs`)"
    img = os.path.join(run.base, "reflink.img")
    mnt = os.path.join(run.base, "xfs")
    os.makedirs(mnt)
    with open(img, "wb") as f:
        f.truncate(size_gb << 30)
    r = b.sh(["mkfs.xfs", "-q", "-m", "reflink=1", img], check=False)
    if r.returncode != 0:
        return None, f"mkfs.xfs failed: {r.stderr.strip()}"
    r = b.sh(["mount", "-o", "loop", img, mnt], check=False)
    if r.returncode != 0:
        return None, f"mounting the XFS image failed: {r.stderr.strip()}"
    run.mounts.append(mnt)
    return mnt, None


def main(args, b):
    b.sh(["cargo", "build", "--release", "-q"], cwd=b.ROOT)
    b.ensure_image()
    runs = args.runs
    base = os.path.realpath(tempfile.mkdtemp(prefix="dp-bench-copies-"))
    run = Run(b, base)
    src_project = f"dpbcopiessrc{os.getpid()}"
    try:
        repo = os.path.join(base, "app")
        files = fixture(b, repo, args.fixture_scale, b.IMAGE)
        run.projects.append(src_project)
        mib = fill_volume(b, run, repo, src_project, args.fixture_scale)
        plain = measure_files(b, run, repo, "p", runs, True, src_project)
        mnt, why = mount_xfs(b, run, 4)
        xfs = None
        if mnt:
            xrepo = os.path.join(mnt, "app")
            fixture(b, xrepo, args.fixture_scale, b.IMAGE)
            xfs = measure_files(b, run, xrepo, "x", runs, False, None)
    finally:
        run.cleanup()
    fs_type = b.sh(["stat", "-f", "-c", "%T", tempfile.gettempdir()], check=False).stdout.strip()
    section = report(b, runs, files, mib, fs_type, plain, xfs, why)
    write_section(args.out, section)
    print(section)
    return plain


def report(b, runs, files, mib, fs_type, plain, xfs, why):
    def row(name, key, data, floor_key=None, goal=None):
        med, q1, q3 = b.stats(data[key])
        ratio = goal_text = ""
        if floor_key:
            fmed = b.stats(data[floor_key])[0]
            ratio = f"{med / fmed:.2f}"
            if goal:
                goal_text = f"≤ {goal:.1f}× — {'met' if med / fmed <= goal else 'missed'}"
        return f"| {name} | {b.ms(med)} | {b.ms(q1)} – {b.ms(q3)} | {ratio} | {goal_text} |"

    def rows(data, volume):
        out = [
            row("copy step of `create` (`+ copy node_modules/`)", "copy step", data, "cp", 1.0),
            row("floor: `cp -a node_modules`", "cp", data),
            row("whole `create` (1 service)", "create", data, "floor create", 1.1),
            row("floor: `git worktree add` + `cp -a node_modules` + `docker compose up -d --wait`",
                "floor create", data),
        ]
        if volume:
            out += [
                row("volume-copy step of `create --data-from .` (`+ data from …`)", "data step", data,
                    "floor volume", 1.5),
                row("floor: `docker run --rm` doing `cp -a` between two volumes", "floor volume", data),
                row("whole `create --data-from .` (for reference)", "create data", data, "floor create"),
            ]
        return out

    head = ["| what | median | IQR | × floor | goal |", "| --- | --- | --- | --- | --- |"]
    lines = [
        SECTION, "",
        f"Produced by `python3 benches/bench.py --copies --runs {runs}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, release build.",
        f"Fixture: a repository of {files[0]} tracked files, a gitignored `node_modules` of {files[1]} files "
        f"(1–7 KiB each, {files[2] / 1e6:.0f} MB) listed in `.worktreeinclude`, one service whose named "
        f"volume holds {mib} MiB (the source: a plain `docker compose up` in the main checkout, running). "
        f"Each figure is the median of {runs} runs after one warm-up round (caches warm), with the "
        "interquartile range; every floor is measured in the same rounds, alternating with dev-prism. "
        "Step figures are timed from the arrival of the step's progress lines on stderr.",
        "", f"### On the temp directory's file system ({fs_type}: no copy-on-write)", "", *head,
        *rows(plain, True), "",
        "### Copy-on-write: a loop-mounted XFS image (`mkfs.xfs -m reflink=1`)", "",
    ]
    if xfs:
        lines += ["The fixture again on the XFS image; GNU `cp -a` (coreutils ≥ 9) also clones "
                  "there by default, so the floor is a reflink copy too. The volume copy runs "
                  "inside the engine's own storage and is not affected.", "", *head, *rows(xfs, False)]
    else:
        lines += [f"Not measured: {why}."]
    return "\n".join(lines) + "\n"


def write_section(path, section):
    """Replaces the section in `path` (up to the next `## ` heading), else appends it."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if SECTION in text:
        start = text.index(SECTION)
        end = text.find("\n## ", start + len(SECTION))
        rest = text[end + 1:] if end >= 0 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


VOLUME_SECTION = "## The volume copy (issue 21)"


def volume_main(args, b):
    """`python3 benches/bench.py --volume [--runs 7]`: only the volume-copy step of
    `create --data-from .` against its floor, on a small repository (a few files) whose one
    service's named volume holds ~300 MiB; dev-prism and the floor alternate, and one
    `-v` create shows every engine call of the step."""
    b.sh(["cargo", "build", "--release", "-q"], cwd=b.ROOT)
    b.ensure_image()
    runs = args.runs
    base = os.path.realpath(tempfile.mkdtemp(prefix="dp-bench-volume-"))
    run = Run(b, base)
    src_project = f"dpbvolsrc{os.getpid()}"
    r = {"data step": [], "floor volume": [], "load": []}
    try:
        repo = os.path.join(base, "app")
        fixture(b, repo, 0.001, b.IMAGE)
        shutil.rmtree(os.path.join(repo, "node_modules"))
        run.projects.append(src_project)
        mib = fill_volume(b, run, repo, src_project, 1.0)
        for i in range(runs + 1):  # the first round warms the caches and is discarded
            r["load"].append(os.getloadavg()[0])
            _, d, steps = timed_create(b, repo, ["--branch", f"v{i}", "--data-from", "."])
            b.sh([b.BIN, "-q", "destroy", "--force", d], cwd=repo)
            vol = f"dpbvol-floor{i}-{os.getpid()}"
            run.volumes.append(vol)
            b.sh(["docker", "volume", "create", vol])
            t0 = time.perf_counter()
            b.sh(["docker", "run", "--rm", "--network", "none", "-v", f"{src_project}_data:/from:ro",
                  "-v", f"{vol}:/to", b.IMAGE, "cp", "-a", "/from/.", "/to/"])
            t_vol = time.perf_counter() - t0
            b.sh(["docker", "volume", "rm", vol])
            if i > 0:
                r["data step"].append(step(steps, "+ data from"))
                r["floor volume"].append(t_vol)
        p = b.sh([b.BIN, "-v", "create", "--branch", "vtrace", "--data-from", "."], cwd=repo)
        trace = [l for l in p.stderr.splitlines()
                 if "Docker API" in l and any(k in l for k in ["/volumes/create", "/pause", "/unpause",
                                                                "/containers/create", "/start", "/wait",
                                                                "DELETE /containers"])]
        b.sh([b.BIN, "-q", "destroy", "--force", p.stdout.splitlines()[0].strip()], cwd=repo)
    finally:
        run.cleanup()
    med, q1, q3 = b.stats(r["data step"])
    fmed, fq1, fq3 = b.stats(r["floor volume"])
    lines = [
        VOLUME_SECTION, "",
        f"Produced by `python3 benches/bench.py --volume --runs {runs}` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, release build; 2 cores shared "
        f"with other work (1-minute load average {min(r['load']):.1f}–{max(r['load']):.1f} during the run). "
        f"One service whose named volume holds {mib} MiB, its source a plain `docker compose up` in the "
        "main checkout (running). Median of "
        f"{runs} runs after one warm-up round, dev-prism and the floor alternating; the step is timed "
        "from the arrival of its progress lines on stderr.", "",
        "| what | median | IQR | × floor | goal |", "| --- | --- | --- | --- | --- |",
        f"| volume-copy step of `create --data-from .` (`+ data from …`) | {b.ms(med)} | {b.ms(q1)} – {b.ms(q3)} "
        f"| {med / fmed:.2f} | ≤ 1.5× — {'met' if med / fmed <= 1.5 else 'missed'} |",
        f"| floor: `docker run --rm` doing `cp -a` between two volumes (volume made before) | {b.ms(fmed)} "
        f"| {b.ms(fq1)} – {b.ms(fq3)} |  |  |",
        "", "Every engine call of one such step (`dev-prism -v create --data-from .`):", "", "```",
        *[l.replace(base, "…") for l in trace], "```",
    ]
    section = "\n".join(lines) + "\n"
    text = open(args.out).read()
    if VOLUME_SECTION in text:
        start = text.index(VOLUME_SECTION)
        end = text.find("\n## ", start + len(VOLUME_SECTION))
        # A hand-written reading under a `###` heading is kept.
        old = text[start:] if end < 0 else text[start:end + 1]
        keep = old.split("\n### ", 1)
        section += ("\n### " + keep[1]) if len(keep) > 1 else ""
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(args.out, "w") as f:
        f.write(text)
    print(section)
    return r
