#!/usr/bin/env python3
"""The proxy against direct access and nginx (issue 20).

One session of the test upstream (tests/fixtures/upstream.rs, a std-only static HTTP/1.1
server, thread per connection) is created on the local engine; wrk then measures, in the same
run and in several rounds back to back, a 1 KiB keep-alive GET

- direct to the session's published port,
- through `dev-prism proxy` (release binary, by Host), and optionally an earlier binary,
- through nginx (one worker, and two workers; upstream keepalive) configured as a reverse
  proxy to the same port,

at one connection (latency p50/p99: the added latency) and at 32 connections (throughput, and
the CPU time each proxy's processes used per request: utime + stime over wrk's request count);
then the proxy's resident memory, the time from `dev-prism start` returning until the name
answers again, and the memory of a proxy with 200 routes. Everything is removed at the end,
also on failure. Results replace the "Proxy" section of docs/benchmarks.md.

Usage: python3 benches/bench_proxy.py [--duration 5] [--rounds 3] [--base-bin OLD] [--out docs/benchmarks.md]
Needs: wrk, nginx (Debian: wrk, nginx-light), rustc, docker, git; a release build.
"""

import argparse
import datetime
import http.server
import json
import socketserver
import threading
import urllib.request
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "dev-prism")
IMAGE = "dev-prism-bench-upstream:1"


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def build_image(tmp):
    binary = os.path.join(tmp, "upstream")
    sh("rustc", "-O", "-C", "target-feature=+crt-static",
       os.path.join(ROOT, "tests", "fixtures", "upstream.rs"), "-o", binary)
    subprocess.run(
        f"tar -C '{tmp}' -c upstream | docker import -c 'CMD [\"/upstream\"]' - {IMAGE} >/dev/null",
        shell=True, check=True)


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on {port}")


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def cpu_seconds(pids):
    """utime and stime (seconds) of these processes, every thread included."""
    user = system = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        user += int(fields[11])
        system += int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def children(pid):
    try:
        return [int(x) for x in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def wrk(url, host, connections, duration, pids=()):
    """p50 and p99 (ms), req/s, and the CPU time of `pids` per request (µs: user, system)."""
    before = cpu_seconds(pids)
    out = sh("wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
             "-H", f"Host: {host}", url)
    after = cpu_seconds(pids)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} non-2xx answers")
    per = tuple((a - b) / max(requests, 1) * 1e6 for a, b in zip(after, before))
    return to_ms(p50), to_ms(p99), rps, per


def fake_engine(socket_path, upstream_port, routes):
    """A stand-in Engine API on a unix socket listing `routes` running dev-prism containers,
    each publishing the real upstream's port: the proxy's memory with that many routes."""
    containers = [{
        "Id": f"fake{i}", "Names": [f"/fake{i}"], "State": "running", "Status": "Up",
        "Labels": {"dev-prism.managed": "true", "dev-prism.service": "web",
                   "dev-prism.working_dir": f"/fake/s{i}", "dev-prism.ports": "80/tcp",
                   "dev-prism.host": f"s{i}.many", "dev-prism.domain": "localhost"},
        "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": upstream_port,
                   "Type": "tcp"}],
    } for i in range(routes)]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if "/version" in self.path:
                body = {"ApiVersion": "1.43", "MinAPIVersion": "1.12", "Version": "24.0.0"}
            elif "/containers/json" in self.path:
                body = containers
            else:
                body = []
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

        def get_request(self):
            request, _ = super().get_request()
            return request, ("local", 0)

    server = Server(socket_path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def nginx_conf(tmp, name, port, up, workers):
    conf = os.path.join(tmp, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes {workers};
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  upstream up {{ server 127.0.0.1:{up}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
    }}
  }}
}}
""")
    return conf


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def stop_all(procs):
    """SIGTERM to each process this bench started, SIGKILL to one that lingers past 5 s."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def route_change_ms(bin_, session, repo, env, name, proxy_port):
    """`dev-prism stop` then `start` (the published port changes): milliseconds from `start`
    returning until the name answers 200 through the running proxy."""
    sh(bin_, "stop", "-q", session, cwd=repo, env=env)
    sh(bin_, "start", "-q", session, cwd=repo, env=env)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{proxy_port}/bytes/16",
                                         headers={"Host": name})
            if urllib.request.urlopen(req, timeout=2).status == 200:
                return (time.monotonic() - t0) * 1000
        except Exception:
            pass
        time.sleep(0.01)
    raise RuntimeError("the name did not answer within 10 s of start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3,
                    help="back-to-back rounds over every path (medians reported)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--bin", default=BIN, help="the dev-prism binary (default: the release build)")
    ap.add_argument("--base-bin", help="an earlier dev-prism binary, measured alongside")
    ap.add_argument("--base-label", default="dev-prism proxy, before")
    args = ap.parse_args()
    bin_ = os.path.abspath(args.bin)
    tmp = tempfile.mkdtemp(prefix="dp-bench-proxy-")
    procs = []
    repo = os.path.join(tmp, "benchshop")
    session = None
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(tmp, "state"),
               DEV_PRISM_PROXY_PORT=str(free_port()))
    try:
        build_image(tmp)
        os.makedirs(repo)
        git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=Bench",
               "-c", "commit.gpgsign=false"]
        sh(*git, "init", "-q", "-b", "main", cwd=repo)
        with open(os.path.join(repo, "docker-compose.yml"), "w") as f:
            f.write(f"services:\n  web:\n    image: {IMAGE}\n    ports: [\"80\"]\n"
                    "    stop_grace_period: 1s\n")
        with open(os.path.join(repo, ".gitignore"), "w") as f:
            f.write(".env.session\ndocker-compose.session.yml\n")
        sh(*git, "add", "-A", cwd=repo)
        sh(*git, "commit", "-q", "-m", "bench", cwd=repo)
        session = sh(bin_, "create", "-q", cwd=repo, env=env).splitlines()[0].strip()
        # create may have started a background proxy; this run measures its own.
        subprocess.run([bin_, "proxy", "stop"], env=env, capture_output=True)
        vars_ = dict(l.split("=", 1) for l in open(os.path.join(session, ".env.session"))
                     if "=" in l and not l.startswith("#"))
        up = int(vars_["WEB_PORT"])
        proxy_port = int(env["DEV_PRISM_PROXY_PORT"])
        proxy = subprocess.Popen([bin_, "proxy"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        procs.append(proxy)
        wait_port(proxy_port)
        targets = [("direct", up, []), ("dev-prism proxy", proxy_port, [proxy.pid])]
        if args.base_bin:
            base_port = free_port()
            base = subprocess.Popen([os.path.abspath(args.base_bin), "proxy"],
                                    env=dict(env, DEV_PRISM_PROXY_PORT=str(base_port)),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(base)
            wait_port(base_port)
            targets.append((args.base_label, base_port, [base.pid]))
        for label, workers in [("nginx, 1 worker", 1), ("nginx, 2 workers", 2)]:
            port = free_port()
            conf = nginx_conf(tmp, f"nginx{workers}", port, up, workers)
            ng = subprocess.Popen(["nginx", "-c", conf, "-p", tmp, "-g", "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(ng)
            wait_port(port)
            time.sleep(0.2)
            targets.append((label, port, [ng.pid] + children(ng.pid)))
        # The name create gave the session (`WEB_URL=http://web.<session>.benchshop.localhost:PORT`).
        name = vars_["WEB_URL"].strip().split("://", 1)[1].rsplit(":", 1)[0]
        results = {label: [] for label, _, _ in targets}
        loads = []
        for r in range(args.rounds):
            loads.append(loadavg())
            for label, port, pids in targets:
                url = f"http://127.0.0.1:{port}/bytes/1024"
                wrk(url, name, 4, 1)  # warm-up: connections, pools, caches
                lat = wrk(url, name, 1, args.duration)
                thr = wrk(url, name, 32, args.duration, pids)
                results[label].append((lat, thr))
                print(f"round {r + 1}", label, lat, thr, loadavg(), file=sys.stderr, flush=True)
        loads.append(loadavg())
        rss = rss_kib(proxy.pid)
        # 200 routes: a second proxy on a stand-in engine listing 200 sessions, each name asked
        # once (a TLS certificate minted for 20 of them).
        sock = os.path.join(tmp, "engine.sock")
        fake = fake_engine(sock, up, 200)
        many_port = free_port()
        many = subprocess.Popen(
            [bin_, "proxy"],
            env=dict(env, DOCKER_HOST=f"unix://{sock}", DEV_PRISM_PROXY_PORT=str(many_port)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(many)
        wait_port(many_port)
        for i in range(200):
            req = urllib.request.Request(f"http://127.0.0.1:{many_port}/bytes/1024",
                                         headers={"Host": f"web.s{i}.many.localhost"})
            assert urllib.request.urlopen(req).status == 200
        for i in range(20):
            subprocess.run(["curl", "-sk", "--resolve",
                            f"web.s{i}.many.localhost:{many_port}:127.0.0.1",
                            f"https://web.s{i}.many.localhost:{many_port}/bytes/16"],
                           check=True, capture_output=True)
        rss_many = rss_kib(many.pid)
        fake.shutdown()
        # Last: each stop/start moves the session to a new published port.
        changes = [route_change_ms(bin_, session, repo, env, name, proxy_port)
                   for _ in range(3)]
        print("route changes (ms)", changes, file=sys.stderr)
        direct_p50 = median([lat[0] for lat, _ in results["direct"]])
        lines = [
            "## Proxy (issue 20)",
            "",
            f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on this "
            f"machine ({os.cpu_count()} cores shared with other work; load average "
            f"{' → '.join(loads)} across the rounds: compare within the run, not across runs), "
            f"`python3 benches/bench_proxy.py --duration {args.duration} --rounds {args.rounds}"
            f"{' --base-bin …' if args.base_bin else ''}`. "
            f"{args.rounds} rounds back to back, each measuring every path in turn; the table "
            "gives the median of the rounds. wrk, one thread, a 1 KiB keep-alive GET to the "
            "test upstream (tests/fixtures/upstream.rs: a std-only static server, thread per "
            "connection) in a session container; nginx with upstream keepalive; the proxy is "
            f"`{os.path.relpath(bin_, ROOT)}` (a current-thread runtime per core, each with its own "
            "pool of upstream connections).",
            "",
            "| path | p50, 1 conn | p99, 1 conn | added p50 | req/s, 32 conns (median) "
            "| req/s per round | p99, 32 conns | CPU per request, 32 conns (user + sys) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for label, _, pids in targets:
            rs = results[label]
            p50 = median([lat[0] for lat, _ in rs])
            p99 = median([lat[1] for lat, _ in rs])
            rps = median([thr[2] for _, thr in rs])
            tp99 = median([thr[1] for _, thr in rs])
            added = "—" if label == "direct" else f"{p50 - direct_p50:+.3f} ms"
            per = ", ".join(f"{thr[2]:,.0f}" for _, thr in rs)
            user = median([thr[3][0] for _, thr in rs])
            system = median([thr[3][1] for _, thr in rs])
            cpu = (f"{median([sum(thr[3]) for _, thr in rs]):.1f} µs ({user:.1f} + {system:.1f})"
                   if pids else "—")
            lines.append(f"| {label} | {p50:.3f} ms | {p99:.3f} ms | {added} | {rps:,.0f} | "
                         f"{per} | {tp99:.2f} ms | {cpu} |")
        lines += [
            "",
            f"The proxy's resident memory after these runs: {rss / 1024:.1f} MiB (one route); "
            f"with 200 routes (a stand-in engine listing 200 sessions, every name asked once, "
            f"20 TLS certificates minted): {rss_many / 1024:.1f} MiB.",
            "",
            "Route changes: `dev-prism stop` then `dev-prism start` (a new published port), "
            "then the name asked every 10 ms through the running proxy: it answered "
            + ", ".join(f"{c:.0f} ms" for c in changes)
            + " after `start` returned (goal ≤ 1 s; engine events drop the route cache at once).",
            "",
        ]
        section = "\n".join(lines)
        text = open(args.out).read() if os.path.exists(args.out) else "# Benchmarks\n"
        text = re.sub(r"\n## Proxy \(issue 20\)\n.*?(?=\n## |\Z)", "\n", text, flags=re.S)
        text = text.rstrip("\n") + "\n\n" + section
        open(args.out, "w").write(text)
        print(section)
    finally:
        stop_all(procs)
        if session:
            subprocess.run([bin_, "destroy", "--force", session], cwd=repo, env=env,
                           capture_output=True)
        subprocess.run([bin_, "proxy", "stop"], env=env, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
