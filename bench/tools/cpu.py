"""CPU accounting around one measured run, to see whether something else
(another session's build) was competing for the cores.

  cpu.py snap PGID > FILE          total busy jiffies + jiffies of process group PGID
  cpu.py diff FILE PGID LOADGEN_CPU_S
      prints "server=<cores> loadgen=<cores> others=<cores> server_runqueue_wait=<threads>":
      average cores used over the window by the server's process group, by
      the load generator (its user+sys seconds, measured by the caller) and by
      everything else, and the average number of the server's threads that
      were runnable but waiting for a CPU (scheduler run-queue wait).
  cpu.py rss PGID                  resident memory (MiB) of process group PGID, summed
  cpu.py quiet [MAX_WAIT_S=120] [THRESHOLD_CORES=0.15]
      wait (bounded) until the machine as a whole used < THRESHOLD cores over
      a 2 s window; prints "quiet=<cores>" or "busy=<cores> (gave up after N s)".
      Call it while the thing to be measured is idle.
"""
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def total_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle


def group_members(pgid):
    """(pid, fields of /proc/PID/stat after the command name) of every process
    of process group PGID; processes that vanish meanwhile are skipped."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        # fields after comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14)
        rest = s[s.rindex(")") + 2:].split()
        if int(rest[2]) == pgid:
            yield d, rest


def group_wait_ns(pgid):
    """Run-queue wait (ns) of every thread of process group PGID: time its
    runnable threads spent waiting for a CPU (/proc/PID/task/TID/schedstat)."""
    tot = 0
    for pid, _ in group_members(pgid):
        try:
            for t in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    tot += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return tot


def group_jiffies(pgid):
    return sum(int(r[11]) + int(r[12]) + int(r[13]) + int(r[14]) for _, r in group_members(pgid))


def group_rss_kib(pgid):
    tot = 0
    for pid, _ in group_members(pgid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        tot += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return tot


if sys.argv[1] == "rss":
    print(f"{group_rss_kib(int(sys.argv[2])) / 1024:.0f}")
elif sys.argv[1] == "quiet":
    max_wait = float(sys.argv[2]) if len(sys.argv) > 2 else 120
    thr = float(sys.argv[3]) if len(sys.argv) > 3 else 0.15
    start = time.monotonic()
    while True:
        b0, t0 = total_busy(), time.monotonic()
        time.sleep(2)
        used = (total_busy() - b0) / HZ / (time.monotonic() - t0)
        if used < thr:
            print(f"quiet={used:.2f}")
            break
        if time.monotonic() - start > max_wait:
            print(f"busy={used:.2f} (gave up after {max_wait:.0f} s)")
            break
elif sys.argv[1] == "snap":
    pg = int(sys.argv[2])
    print(time.monotonic(), total_busy(), group_jiffies(pg), group_wait_ns(pg) if pg else 0)
else:
    t0, b0, g0, w0 = open(sys.argv[2]).read().split()
    pg = int(sys.argv[3])
    loadgen = float(sys.argv[4])
    dt = time.monotonic() - float(t0)
    busy = (total_busy() - int(b0)) / HZ
    server = (group_jiffies(pg) - int(g0)) / HZ
    others = max(0.0, busy - server - loadgen)
    wait = (group_wait_ns(pg) - int(w0)) / 1e9 if pg else 0.0
    print(f"server={server / dt:.2f} loadgen={loadgen / dt:.2f} others={others / dt:.2f} server_runqueue_wait={wait / dt:.2f}")
