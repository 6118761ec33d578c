#!/usr/bin/env python3
"""CPU per request of the proxy against nginx, without Docker (issue 20).

The test upstream (tests/fixtures/upstream.rs) runs on the host; each dev-prism binary given
serves it through a stand-in engine (benches/bench_proxy.py's `fake_engine`, one route), and
nginx with 1 and 2 workers proxies to it as in bench_proxy.py. Each round runs wrk (one
thread, 32 connections, a 1 KiB keep-alive GET) against every path in turn and reads the
utime and stime of each proxy's processes (every thread, nginx's workers) before and after:
CPU time per request holds under load far better than req/s on a shared machine. Prints the
rounds and the medians; writes nothing.

Usage: python3 benches/bench_proxy_local.py BIN[,BIN...] [--rounds 5] [--duration 4]
Needs: wrk, nginx, rustc.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_proxy as bp  # noqa: E402

HOST = "web.s0.many.localhost"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bins", help="comma-separated dev-prism binaries")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=4)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dp-bench-local-")
    procs = []
    try:
        upstream = os.path.join(tmp, "upstream")
        bp.sh("rustc", "-O", os.path.join(bp.ROOT, "tests", "fixtures", "upstream.rs"),
              "-o", upstream)
        up = bp.free_port()
        procs.append(subprocess.Popen([upstream],
                                      env=dict(os.environ, UPSTREAM_LISTEN=f"127.0.0.1:{up}")))
        bp.wait_port(up)
        sock = os.path.join(tmp, "engine.sock")
        bp.fake_engine(sock, up, 1)
        targets = [("direct", up, [])]
        for b in args.bins.split(","):
            port = bp.free_port()
            p = subprocess.Popen(
                [os.path.abspath(b), "proxy"],
                env=dict(os.environ, DOCKER_HOST=f"unix://{sock}", DEV_PRISM_PROXY_PORT=str(port),
                         XDG_STATE_HOME=os.path.join(tmp, "state")),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            bp.wait_port(port)
            targets.append((b, port, [p.pid]))
        for workers in (1, 2):
            port = bp.free_port()
            conf = bp.nginx_conf(tmp, f"nginx{workers}", port, up, workers)
            p = subprocess.Popen(["nginx", "-c", conf, "-p", tmp, "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            bp.wait_port(port)
            time.sleep(0.3)
            targets.append((f"nginx, {workers} worker{'s' if workers > 1 else ''}", port,
                            [p.pid] + bp.children(p.pid)))
        results = {label: [] for label, _, _ in targets}
        loads = []
        for r in range(args.rounds):
            loads.append(bp.loadavg())
            for label, port, pids in targets:
                url = f"http://127.0.0.1:{port}/bytes/1024"
                bp.wrk(url, HOST, 4, 1)
                _, _, rps, (user, system) = bp.wrk(url, HOST, 32, args.duration, pids)
                results[label].append((rps, user, system))
                print(f"round {r + 1}  {label:40s} {rps:9,.0f} req/s  "
                      f"{user + system:5.1f} µs/request (user {user:.1f}, sys {system:.1f})",
                      flush=True)
        loads.append(bp.loadavg())
        print(f"load average: {' → '.join(loads)}")
        print("| path | req/s, 32 conns (median) | CPU per request (user + sys) |")
        print("| --- | --- | --- |")
        for label, _, pids in targets:
            rs = results[label]
            rps = bp.median([x[0] for x in rs])
            cpu = (f"{bp.median([x[1] + x[2] for x in rs]):.1f} µs "
                   f"({bp.median([x[1] for x in rs]):.1f} + {bp.median([x[2] for x in rs]):.1f})"
                   if pids else "—")
            print(f"| {label} | {rps:,.0f} | {cpu} |")
    finally:
        bp.stop_all(procs)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
