#!/usr/bin/env python3
"""A writer that keeps committing to an Iceberg and a Delta table, for the
concurrent-writers test (tests/concurrent.rs).

Usage:
  python testdata/concurrent_writer.py write WAREHOUSE_DIR LOG COMMITS   (catalog: WAREHOUSE_DIR/../catalog.db)
  python testdata/concurrent_writer.py check EXTRACTED_DIR LOG

write: creates WAREHOUSE_DIR/db/ice (Iceberg, pyiceberg SqlCatalog in
  catalog.db beside WAREHOUSE_DIR, so the live sqlite file is not part of the pack) and WAREHOUSE_DIR/delta/dl (deltalake), then commits
  COMMITS times to each, alternating, 50 rows per commit (column `n` = commit number).
  After each commit it appends a JSON line to LOG: {"format", "state" (Iceberg
  snapshot id / Delta version), "rows"} -- the states a reader may see. Every tenth
  Delta commit also writes a checkpoint (rewriting _delta_log/_last_checkpoint).
  The first line, {"ready": true}, is written once both tables exist.

check: opens the tables of EXTRACTED_DIR (an archive extracted with --relocate to
  that directory) -- Iceberg from its highest-numbered metadata file, Delta with
  DeltaTable -- and checks that each is at a state LOG recorded, with exactly that
  many rows, every data file present and every referenced path inside
  EXTRACTED_DIR. Prints the states; exit status 1 on any mismatch.
"""
import glob
import json
import os
import sys


def write(wh, log_path, commits):
    import pyarrow as pa
    from deltalake import write_deltalake, DeltaTable
    from pyiceberg.catalog.sql import SqlCatalog

    os.makedirs(wh, exist_ok=True)
    catalog = SqlCatalog(
        "w",
        uri=f"sqlite:///{os.path.dirname(wh)}/catalog.db",
        warehouse=f"file://{wh}",
    )
    catalog.create_namespace("db")
    schema = pa.schema([("n", pa.int64()), ("v", pa.string())])
    ice = catalog.create_table("db.ice", schema=schema, location=f"file://{wh}/db/ice")
    delta_path = f"{wh}/delta/dl"
    log = open(log_path, "a", buffering=1)

    def batch(i):
        return pa.table({"n": [i] * 50, "v": [f"row {i}-{k}" for k in range(50)]}, schema=schema)

    ice_rows = 0
    delta_rows = 0
    for i in range(commits):
        ice.append(batch(i))
        ice_rows += 50
        log.write(json.dumps({"format": "iceberg", "state": str(ice.current_snapshot().snapshot_id), "rows": ice_rows}) + "\n")
        write_deltalake(delta_path, batch(i), mode="append")
        delta_rows += 50
        dt = DeltaTable(delta_path)
        if i % 10 == 9:
            dt.create_checkpoint()
        log.write(json.dumps({"format": "delta", "state": str(dt.version()), "rows": delta_rows}) + "\n")
        if i == 0:
            log.write(json.dumps({"ready": True}) + "\n")
    log.close()


def check(root, log_path):
    import pyarrow.parquet as pq
    from deltalake import DeltaTable
    from pyiceberg.table import StaticTable

    states = {"iceberg": {}, "delta": {}}
    for line in open(log_path):
        rec = json.loads(line)
        if "format" in rec:
            states[rec["format"]][rec["state"]] = rec["rows"]
    bad = []
    root = os.path.abspath(root)
    uri = f"file://{root}"

    metas = sorted(glob.glob(f"{root}/db/ice/metadata/*.metadata.json"))
    if not metas:
        bad.append("iceberg: no metadata")
    else:
        table = StaticTable.from_metadata(metas[-1])
        snap = table.current_snapshot()
        state = str(snap.snapshot_id) if snap else None
        rows = table.scan().to_arrow().num_rows
        print(f"iceberg at {state}: {rows} rows")
        if states["iceberg"].get(state) != rows:
            bad.append(f"iceberg: snapshot {state} with {rows} rows was never committed")
        for task in table.scan().plan_files():
            path = task.file.file_path
            if not path.startswith(uri + "/"):
                bad.append(f"iceberg: {path} is outside {root}")
            elif not os.path.exists(path[len("file://"):]):
                bad.append(f"iceberg: {path} is missing")

    dt = DeltaTable(f"{root}/delta/dl")
    state = str(dt.version())
    rows = dt.to_pyarrow_table().num_rows
    print(f"delta at {state}: {rows} rows")
    if states["delta"].get(state) != rows:
        bad.append(f"delta: version {state} with {rows} rows was never committed")
    for f in dt.file_uris():
        p = f[len("file://"):] if f.startswith("file://") else f
        if not p.startswith(root + "/") or not os.path.exists(p):
            bad.append(f"delta: {f} missing or outside {root}")

    for b in bad:
        print(b)
    sys.stdout.flush()
    os._exit(1 if bad else 0)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(os.path.abspath(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        sys.stdout.flush()
        os._exit(0)
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
