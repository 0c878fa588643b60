#!/usr/bin/env python3
"""A Delta table that evolves night by night like a production fact table, for the
restore-bytes benchmark (bench/restore.sh). Written by deltalake (delta-rs), so the log,
the data files and the removed/vacuumed files are what a real writer leaves.

    chain_warehouse.py steps                 # prints the number of nights
    chain_warehouse.py step N WAREHOUSE MB   # applies night N (1-based) to WAREHOUSE

The table is WAREHOUSE/sales/events, partitioned by `day`; each row carries a 4 KiB
random payload (incompressible, so file sizes are the data sizes). MB sets the size of
night 1; every later night adds about MB/30.

  1    30 days of history: 4 appends over days 1-30 (4 files per day, MB in all)
  2-7  a new day in 4 appends (MB/30); yesterday's 4 files compacted into one
       (optimize.compact on that partition); vacuum with retention 0 deletes the
       compacted files
  4    also: delete every 50th row of days 1-10 (copy-on-write: a third of the table
       rewritten, the old files vacuumed), the kind of rewrite a GDPR erasure causes

Rows are deterministic (numpy seed SEED + night); file names and times are not.
"""

import os
import sys

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

SEED = 20261122
NIGHTS = 7
HISTORY_DAYS = 30
PAYLOAD = 4096


def batch(rng, days, mb_per_day, first_id):
    """One append: mb_per_day MiB of rows for each day in `days`."""
    rows = max(1, int(mb_per_day * 1024 * 1024 / PAYLOAD))
    n = rows * len(days)
    payload = rng.bytes(n * PAYLOAD)
    return pa.table(
        {
            "id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            "day": pa.array(np.repeat(np.array(days, dtype=np.int32), rows)),
            "payload": pa.array(
                [payload[i * PAYLOAD:(i + 1) * PAYLOAD] for i in range(n)], pa.binary()
            ),
        }
    )


def vacuum(table):
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)


def night(step, warehouse, mb):
    path = os.path.join(warehouse, "sales", "events")
    rng = np.random.default_rng(SEED + step)
    per_file = mb / HISTORY_DAYS / 4  # MiB per day per append
    if step == 1:
        if os.path.exists(path):
            sys.exit(f"{path} exists: night 1 creates it")
        days = list(range(1, HISTORY_DAYS + 1))
        for append in range(4):
            write_deltalake(path, batch(rng, days, per_file, append * 10**9),
                            partition_by=["day"], mode="append")
        return
    table = DeltaTable(path)
    today = HISTORY_DAYS + step - 1
    if today - 1 not in set(int(d) for d in table.to_pyarrow_table(columns=["day"])["day"].to_pylist()):
        sys.exit(f"night {step}: day {today - 1} missing (nights must run in order)")
    for append in range(4):
        write_deltalake(path, batch(rng, [today], per_file, step * 10**8 + append * 10**7),
                        partition_by=["day"], mode="append")
    table = DeltaTable(path)
    table.optimize.compact(partition_filters=[("day", "=", str(today - 1))])
    if step == 4:
        table = DeltaTable(path)
        table.delete("day <= 10 AND id % 50 = 0")
    vacuum(DeltaTable(path))


def main():
    if sys.argv[1:2] == ["steps"]:
        print(NIGHTS)
    elif len(sys.argv) == 5 and sys.argv[1] == "step":
        step = int(sys.argv[2])
        if not 1 <= step <= NIGHTS:
            sys.exit(f"night {step}: 1..{NIGHTS}")
        night(step, sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
