#!/usr/bin/env python3
"""Sums up the requests of one benchmark run from nginx's access log (the `bench` log
format of bench/lib.sh: $request_time $status $body_bytes_sent "$http_range" ...
$msec), the same way for every tool.

    access_log.py LOG DATA_START DATA_END

Prints one line: "requests meta data bytes sizes small steps", where data = requests
whose ranges all fall inside [DATA_START, DATA_END) (a table's data_range), meta = the
others, bytes = body bytes sent, sizes = the data requests' sizes (no spaces), small =
data requests under 4 KiB, steps = requests that started when no other was in flight.
"""

import sys
from collections import Counter
start, end = int(sys.argv[2]), int(sys.argv[3])
n = meta = total = 0
sizes = Counter()
for line in open(sys.argv[1]):
    f = line.split()
    n += 1
    sent = int(f[2])
    total += sent
    rng = f[3].strip('"')
    inside = False
    if rng.startswith("bytes=") and not rng.startswith("bytes=-"):
        parts = [p.split("-") for p in rng[6:].split(",")]
        inside = all(p[0] and int(p[0]) >= start and p[1] and int(p[1]) < end for p in parts)
    if inside:
        sizes[sent] += 1
    else:
        meta += 1
data = sum(sizes.values())
if not sizes:
    desc = "-"
elif len(sizes) <= 4:
    desc = ",_".join(f"{c}×{s}_B" for s, c in sorted(sizes.items(), key=lambda x: -x[0]))
else:
    flat = sorted(s for s, c in sizes.items() for _ in range(c))
    desc = f"{flat[0]}–{flat[-1]}_B_(median_{flat[len(flat) // 2]})"
small = sum(c for s, c in sizes.items() if s < 4096)
# sequential steps: requests that started when nothing else was in flight (each costs a
# full round trip that no other transfer overlaps); times from $msec - $request_time
spans = []
for line in open(sys.argv[1]):
    f = line.split()
    end_ms = round(float(f[7]) * 1000)
    spans.append((end_ms - round(float(f[0]) * 1000), end_ms))
steps, busy_until = 0, None
for start_ms, end_ms in sorted(spans):
    if busy_until is None or start_ms >= busy_until:
        steps += 1
    busy_until = end_ms if busy_until is None else max(busy_until, end_ms)
print(n, meta, data, total, desc, small, steps)
