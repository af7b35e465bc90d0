"""Reads what motocpu.py wrote: moto's CPU per request by operation and
resource, and per job for the bench's farm (bench-<id>-... resources) and
its like-for-like floor (floor-...-lfl-... resources), a job being one
SendMessage to a pool queue."""
import json
import os
import re
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MOTO_CPU_OUT", "/tmp/moto-cpu.json")
stats = json.load(open(path))["stats"]
SETUP = ("CreateTable", "DescribeTable", "DeleteTable", "UpdateTimeToLive", "CreateQueue", "DeleteQueue", "GetQueueAttributes", "GetQueueUrl")


def group(key):
    op, _, res = key.partition(" ")
    if op in SETUP:
        return None, None
    if re.match(r"bench-[a-z0-9]+-", res):
        return "farm", op + " " + re.sub(r"^bench-[a-z0-9]+-", "", res)
    if "-lfl-" in res:
        return "floor", op + " " + re.sub(r"floor-.*-lfl-[^/]*", "floor", res)
    return None, None


per = {"farm": defaultdict(lambda: [0, 0.0]), "floor": defaultdict(lambda: [0, 0.0])}
for key, (calls, cpu, _wall) in stats.items():
    who, name = group(key)
    if who:
        per[who][name][0] += calls
        per[who][name][1] += cpu
for who, ops in per.items():
    jobs = sum(n for k, (n, _) in ops.items() if k.startswith("SendMessage"))
    if not jobs:
        continue
    total = sum(c for _, c in ops.values())
    print(f"{who}: {1000 * total / jobs:.1f} ms of moto CPU per job ({jobs} jobs)")
    for name, (n, c) in sorted(ops.items(), key=lambda kv: -kv[1][1])[:12]:
        print(f"  {name:45s} {1000 * c / jobs:6.2f} ms/job  {n / jobs:5.2f} calls/job  {1000 * c / n:6.2f} ms/call")
