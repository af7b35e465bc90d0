"""moto_server, metered: the CPU time moto spends on each request, summed by
operation and resource (table, index, queue), written as JSON to
$MOTO_CPU_OUT (default /tmp/moto-cpu.json) twice a second.

    PATH=scripts/moto-cpu:$PATH scripts/bench -quick
    python3 scripts/moto-cpu/report.py

moto serves each request on a thread of its own and holds Python's global
lock while it works, so the thread's CPU time is what the request cost the
emulator. The bench's farm tables are named bench-<id>-<table> and its
floors' floor-<run>; report.py groups them so.
"""
import io
import json
import os
import re
import sys
import threading
import time
from collections import defaultdict

from moto.moto_server import werkzeug_app

OUT = os.environ.get("MOTO_CPU_OUT", "/tmp/moto-cpu.json")
_stats = defaultdict(lambda: [0, 0.0, 0.0])  # key -> calls, cpu s, wall s
_lock = threading.Lock()
_serve = werkzeug_app.DomainDispatcherApplication.__call__


def _resource(body):
    """The table (and index) or queue a JSON request names."""
    try:
        req = json.loads(body) if body[:1] == b"{" else {}
    except ValueError:
        return "-"
    name = req.get("TableName") or req.get("QueueUrl") or ""
    if not name:
        m = re.search(r"table/([^/]+)", req.get("StreamArn") or req.get("ShardIterator") or "")
        name = m.group(1) if m else "-"
    name = name.rsplit("/", 1)[-1]
    if req.get("IndexName"):
        name += "/" + req["IndexName"]
    return name


def _metered(self, environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    op = target.split(".")[-1] if target else environ.get("REQUEST_METHOD", "?")
    key = op + " " + _resource(body)
    cpu, wall = time.thread_time(), time.time()
    try:
        return list(_serve(self, environ, start_response))
    finally:
        cpu, wall = time.thread_time() - cpu, time.time() - wall
        with _lock:
            s = _stats[key]
            s[0] += 1
            s[1] += cpu
            s[2] += wall


def _write_forever():
    while True:
        time.sleep(0.5)
        with _lock:
            snapshot = {k: list(v) for k, v in _stats.items()}
        with open(OUT + ".tmp", "w") as f:
            json.dump({"written": time.time(), "stats": snapshot}, f)
        os.replace(OUT + ".tmp", OUT)


werkzeug_app.DomainDispatcherApplication.__call__ = _metered
threading.Thread(target=_write_forever, daemon=True).start()

from moto.server import main  # noqa: E402  (after the meter is in place)

main(sys.argv[1:])
