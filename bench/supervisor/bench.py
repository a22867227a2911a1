#!/usr/bin/env python3
"""Supervisor benchmark: gantry-init --host-mode under load, measured from /proc.

  bench/supervisor/bench.py --init build/init/gantry-init [--services 100] [--restarts 10000]

1. N services (busybox sleep): time from start to all running; RSS and CPU at rest.
2. A crash loop of R restarts of a service that exits at once, backoff 0 (its minimum),
   no start limit: zombies, open fds and RSS of gantry-init before and after.
Prints a Markdown table (pasted into docs/supervisor.md).
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time


def call(sock_path, req):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    f = s.makefile("rw")
    f.write(json.dumps(req) + "\n")
    f.flush()
    r = json.loads(f.readline())
    s.close()
    return r


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fields  # [0]=state, [1]=ppid, [11]=utime, [12]=stime


def cpu_ticks(pid):
    f = proc_stat(pid)
    return int(f[11]) + int(f[12])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def smaps_breakdown(pid):
    """RSS by mapping (file name, or [anon]/[heap]/[stack]) from /proc/PID/smaps, in KiB."""
    out = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                name = os.path.basename(parts[5]) if len(parts) >= 6 else "[anon]"
            elif parts[0] == "Rss:":
                out[name] = out.get(name, 0) + int(parts[1])
    return out


def libs_mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        return len({l.split()[5] for l in f if len(l.split()) >= 6 and ".so" in l.split()[5]})


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def zombies(parent):
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = proc_stat(d)
            except OSError:
                continue
            if f[0] == "Z" and f[1] == str(parent):
                n += 1
    return n


def start_init(init, services, workdir):
    cfg = os.path.join(workdir, "services.json")
    with open(cfg, "w") as f:
        json.dump({"services": services}, f)
    state = os.path.join(workdir, "state")
    log = open(os.path.join(workdir, "init.log"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen([init, "--host-mode", "--state-dir", state, "--log-level", "warn", cfg],
                         stdout=log, stderr=log)
    sock = os.path.join(state, "api.sock")
    while not os.path.exists(sock):
        time.sleep(0.005)
    return p, sock, t0


def stop_init(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def bench_many(init, n):
    work = tempfile.mkdtemp(prefix="gantry_bench_")
    services = {f"s{i:03}": {"command": ["busybox", "sleep", "100000"]} for i in range(n)}
    p, sock, t0 = start_init(init, services, work)
    while True:
        try:
            r = call(sock, {"cmd": "ps"})
        except OSError:
            time.sleep(0.005)
            continue
        if sum(1 for s in r["services"] if s["state"] == "running") == n:
            break
        time.sleep(0.005)
    all_running = time.monotonic() - t0
    time.sleep(2)
    rss = rss_kib(p.pid)
    breakdown = smaps_breakdown(p.pid)
    libs = libs_mapped(p.pid)
    c0 = cpu_ticks(p.pid)
    time.sleep(5)
    cpu_rest = cpu_ticks(p.pid) - c0
    open_fds = fds(p.pid)
    stop_init(p)
    shutil.rmtree(work, ignore_errors=True)
    return {"services": n, "all_running_s": all_running, "rss_kib": rss,
            "cpu_ticks_5s_rest": cpu_rest, "fds": open_fds,
            "libs": libs, "breakdown": breakdown}


def bench_crash_loop(init, restarts):
    work = tempfile.mkdtemp(prefix="gantry_bench_")
    services = {"crash": {"command": ["busybox", "true"], "restart": "always",
                          "backoff": {"initial": "0s", "max": "0s"},
                          "start_limit": {"burst": 0}}}
    p, sock, t0 = start_init(init, services, work)

    def restarts_now():
        r = call(sock, {"cmd": "ps"})
        return r["services"][0]["restarts"]

    while restarts_now() < 100:
        time.sleep(0.01)
    before = {"rss_kib": rss_kib(p.pid), "fds": fds(p.pid), "zombies": zombies(p.pid)}
    t1 = time.monotonic()
    while restarts_now() < restarts:
        time.sleep(0.2)
    elapsed = time.monotonic() - t1
    call(sock, {"cmd": "stop", "service": "crash"})
    time.sleep(0.5)
    after = {"rss_kib": rss_kib(p.pid), "fds": fds(p.pid), "zombies": zombies(p.pid),
             "restarts": restarts_now()}
    stop_init(p)
    shutil.rmtree(work, ignore_errors=True)
    return {"before": before, "after": after, "seconds": elapsed}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", default="build/init/gantry-init")
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--restarts", type=int, default=10000)
    ap.add_argument("--rss-only", action="store_true",
                    help="only the N-services run, with RSS by mapping (no crash loop)")
    a = ap.parse_args()
    many = bench_many(a.init, a.services)
    if a.rss_only:
        print(f"| RSS at rest, {many['services']} services | {many['rss_kib'] / 1024:.1f} MiB |")
        print(f"| shared libraries mapped | {many['libs']} |")
        top = sorted(many["breakdown"].items(), key=lambda kv: -kv[1])
        for name, kib in top[:25]:
            print(f"| {name} | {kib} KiB |")
        return
    crash = bench_crash_loop(a.init, a.restarts)
    hz = os.sysconf("SC_CLK_TCK")
    print(f"| measure | value |\n| --- | --- |")
    print(f"| {many['services']} services: start to all running | {many['all_running_s'] * 1000:.0f} ms |")
    print(f"| RSS at rest, {many['services']} services | {many['rss_kib'] / 1024:.1f} MiB |")
    print(f"| CPU at rest over 5 s | {many['cpu_ticks_5s_rest']} ticks ({many['cpu_ticks_5s_rest'] / hz * 1000:.0f} ms) |")
    print(f"| open fds, {many['services']} services | {many['fds']} |")
    b, f = crash["before"], crash["after"]
    print(f"| crash loop: {f['restarts']} restarts at backoff 0 | {crash['seconds']:.1f} s "
          f"({(f['restarts'] - 100) / crash['seconds']:.0f} restarts/s) |")
    print(f"| crash loop RSS before / after | {b['rss_kib'] / 1024:.1f} / {f['rss_kib'] / 1024:.1f} MiB |")
    print(f"| crash loop open fds before / after | {b['fds']} / {f['fds']} |")
    print(f"| crash loop zombies before / after | {b['zombies']} / {f['zombies']} |")
    json.dump({"many": many, "crash": crash}, sys.stderr)
    sys.stderr.write("\n")


if __name__ == "__main__":
    main()
