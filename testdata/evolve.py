#!/usr/bin/env python3
"""Deterministic step-by-step warehouse evolution for the incremental-chain tests.

Usage:
  python testdata/evolve.py steps                  # prints the number of steps
  python testdata/evolve.py step N WAREHOUSE       # applies step N (1-based)
  python testdata/evolve.py expected WAREHOUSE     # table_check.py-format JSON

Steps must run in order, each in its own process, on the same directory; step 1
creates WAREHOUSE (refuses a non-empty one).  Everything a step needs lives in
WAREHOUSE: the pyiceberg SqlCatalog is WAREHOUSE/catalog.db (warehouse
file://WAREHOUSE, namespace `default` at WAREHOUSE/default.db), Delta tables are
opened by path.  Rows are deterministic (numpy seed SEED + step); file names,
snapshot ids and timestamps are not.

Tables: Iceberg default.db/orders (identity partition on `store`) and
default.db/customers; Delta delta/sales (partitioned by `region`) and delta/events.
Loose files: notes/readme.txt (steps 1-4), notes/other.txt (steps 5-6).

  1  create all four tables with a few appends each; write notes/readme.txt
  2  appends everywhere; delta/events reaches v10 and gets a checkpoint
     (_delta_log/_last_checkpoint appears)
  3  orders: overwrite(status == 'pending') + delete(amount < 100) (copy-on-write);
     sales: delete(qty > 15) + overwrite with predicate region = 'north';
     events: one append; notes/readme.txt rewritten with different content of the
     same size, its previous mtime restored (only a content check sees it)
  4  customers: add column `tier` + append; orders: append; sales: new column
     `channel` via schema_mode="merge" + append; events: appends to v15 and a
     second checkpoint: _last_checkpoint gets the same size, different content
     (asserted)
  5  maintenance.  Delta (both tables): logRetentionDuration 0, vacuum(retention 0),
     checkpoint, cleanup_metadata -> old commits, checkpoints and removed data files
     are deleted.  Iceberg orders: expire all snapshots but the last two, with
     write.metadata.delete-after-commit (old metadata JSON deleted by pyiceberg),
     then delete manifest lists / manifests / data files that no remaining
     metadata file references (pyiceberg's expiry deletes no files).  Iceberg
     customers: expire all snapshots but the current one (metadata only; its old
     files stay on disk).  notes/readme.txt deleted, notes/other.txt added.
  6  one append to every table (adds files only)

Each step checks that delta/events is at the version the previous step left, so a
step run out of order fails before changing anything.  EVOLVE_VERBOSE=1 makes
step 4 print the old and new _last_checkpoint to stderr.
"""
import datetime as dt
import json
import os
import sys

import numpy as np
import pyarrow as pa

SEED = 20240901
NSTEPS = 6

STORES = ["s1", "s2", "s3"]
STATUSES = ["pending", "shipped", "delivered", "cancelled"]
REGIONS = ["north", "south", "east west"]
LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"]
VOCAB = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango").split()

# Same length, different content (step 3 rewrites readme.txt in place).
README_1 = "lakezip evolve warehouse: loose file, version ONE.\n"
README_2 = "lakezip evolve warehouse: loose file, version TWO.\n"
OTHER = "another loose file, added by step 5 after notes/readme.txt was deleted.\n"
assert len(README_1) == len(README_2) and README_1 != README_2


class StepError(Exception):
    pass


# ----------------------------------------------------------------------------- data


class Gen:
    def __init__(self, step):
        self.rng = np.random.default_rng(SEED + step)

    def words(self, n, k):
        idx = self.rng.integers(0, len(VOCAB), size=(n, k))
        return [" ".join(VOCAB[j] for j in row) for row in idx]

    def orders(self, start, n, status=None):
        r = self.rng
        days = r.integers(0, 60, size=n)
        st = [status] * n if status else [STATUSES[i] for i in r.integers(0, len(STATUSES), size=n)]
        return pa.table({
            "order_id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "store": pa.array([STORES[i] for i in r.integers(0, len(STORES), size=n)]),
            "amount": pa.array(np.round(r.uniform(1, 1000, size=n), 2)),
            "status": pa.array(st),
            "created": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in days],
                                type=pa.date32()),
            "note": pa.array(self.words(n, 3)),
        })

    def customers(self, start, n, with_tier):
        r = self.rng
        cols = {
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "name": pa.array(self.words(n, 2)),
            "active": pa.array([bool(b) for b in r.integers(0, 2, size=n)]),
        }
        if with_tier:
            tiers = ["gold", "silver", "bronze", None]
            cols["tier"] = pa.array([tiers[i] for i in r.integers(0, 4, size=n)], type=pa.string())
        return pa.table(cols)

    def sales(self, start, n, region=None, with_channel=False):
        r = self.rng
        reg = [region] * n if region else [REGIONS[i] for i in r.integers(0, len(REGIONS), size=n)]
        cols = {
            "sale_id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "region": pa.array(reg),
            "product": pa.array(self.words(n, 1)),
            "qty": pa.array(r.integers(1, 20, size=n, dtype=np.int32)),
            "price": pa.array(np.round(r.uniform(0.5, 200, size=n), 2)),
        }
        if with_channel:
            cols["channel"] = pa.array([["web", "shop", "phone"][i] for i in r.integers(0, 3, size=n)])
        return pa.table(cols)

    def events(self, start, n, commit):
        r = self.rng
        base = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=commit)
        return pa.table({
            "seq": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "at": pa.array([base + dt.timedelta(seconds=int(s)) for s in r.integers(0, 3600, size=n)],
                           type=pa.timestamp("us", tz="UTC")),
            "level": pa.array([LEVELS[i] for i in r.integers(0, len(LEVELS), size=n)]),
            "message": pa.array(self.words(n, 4)),
            "commit": pa.array(np.full(n, commit, dtype=np.int32)),
        })


# ----------------------------------------------------------------------------- helpers


class WH:
    def __init__(self, path):
        self.path = os.path.abspath(path)

    def p(self, *rel):
        return os.path.join(self.path, *rel)

    def catalog(self):
        from pyiceberg.catalog.sql import SqlCatalog
        return SqlCatalog("default", uri=f"sqlite:///{self.path}/catalog.db",
                          warehouse=f"file://{self.path}")

    def ice(self, name):
        return self.catalog().load_table(f"default.{name}")

    @property
    def sales(self):
        return self.p("delta", "sales")

    @property
    def events(self):
        return self.p("delta", "events")


def max_id(table, col):
    """Highest value of an int column of an Iceberg table (current snapshot)."""
    import pyarrow.compute as pc
    t = table.scan(selected_fields=(col,)).to_arrow()
    return int(pc.max(t.column(col)).as_py() or 0)


def delta_version(path):
    from deltalake import DeltaTable
    return DeltaTable(path).version()


def delta_append(path, data, **kw):
    from deltalake import write_deltalake
    write_deltalake(path, data, mode="append", **kw)


def events_appends(g, w, upto_version):
    """Append to delta/events until its version is `upto_version`; commit k holds
    rows 100*k+1 .. 100*k+100."""
    from deltalake import DeltaTable
    v = delta_version(w.events) if DeltaTable.is_deltatable(w.events) else -1
    while v < upto_version:
        v += 1
        delta_append(w.events, g.events(100 * v + 1, 100, v))
    assert delta_version(w.events) == upto_version


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def expect_events_version(w, v):
    got = delta_version(w.events)
    if got != v:
        raise StepError(f"delta/events is at version {got}, expected {v}: steps out of order?")


def iceberg_highest_is_current(w, name):
    """The catalog pointer must be the highest-numbered metadata file (table_check relies on it)."""
    import re
    t = w.ice(name)
    mdir = w.p("default.db", name, "metadata")
    files = [f for f in os.listdir(mdir) if f.endswith(".metadata.json")]
    nums = [int(re.match(r"(\d+)-", f).group(1)) for f in files]
    assert len(set(nums)) == len(nums), f"duplicate metadata version numbers in {mdir}"
    highest = files[nums.index(max(nums))]
    assert t.metadata_location == f"file://{mdir}/{highest}", (t.metadata_location, highest)


# ----------------------------------------------------------------------------- steps


def step1(w, g):
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import (BooleanType, DateType, DoubleType, LongType, NestedField,
                                 StringType)

    cat = w.catalog()
    cat.create_namespace("default", {"location": f"file://{w.path}/default.db"})

    schema = Schema(
        NestedField(1, "order_id", LongType(), required=False),
        NestedField(2, "store", StringType(), required=False),
        NestedField(3, "amount", DoubleType(), required=False),
        NestedField(4, "status", StringType(), required=False),
        NestedField(5, "created", DateType(), required=False),
        NestedField(6, "note", StringType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="store"))
    t = cat.create_table("default.orders", schema=schema, partition_spec=spec)
    t.append(g.orders(1, 400))
    t.append(g.orders(401, 400))

    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "active", BooleanType(), required=False),
    )
    t = cat.create_table("default.customers", schema=schema)
    t.append(g.customers(1, 300, False))
    t.append(g.customers(301, 300, False))

    delta_append(w.sales, g.sales(1, 500), partition_by=["region"])
    delta_append(w.sales, g.sales(501, 500), partition_by=["region"])
    events_appends(g, w, 2)  # v0..v2

    os.makedirs(w.p("notes"))
    with open(w.p("notes", "readme.txt"), "w") as f:
        f.write(README_1)


def step2(w, g):
    expect_events_version(w, 2)
    t = w.ice("orders")
    t.append(g.orders(max_id(t, "order_id") + 1, 400))
    t = w.ice("customers")
    t.append(g.customers(max_id(t, "id") + 1, 300, False))
    delta_append(w.sales, g.sales(1001, 500), partition_by=["region"])
    events_appends(g, w, 10)
    from deltalake import DeltaTable
    DeltaTable(w.events).create_checkpoint()
    log = w.p("delta", "events", "_delta_log")
    lc = json.loads(read_bytes(os.path.join(log, "_last_checkpoint")))
    assert lc["version"] == 10, lc
    assert os.path.exists(os.path.join(log, "00000000000000000010.checkpoint.parquet"))


def step3(w, g):
    expect_events_version(w, 10)
    t = w.ice("orders")
    nid = max_id(t, "order_id") + 1
    t.overwrite(g.orders(nid, 150, status="pending"), overwrite_filter="status == 'pending'")
    t.delete("amount < 100")

    from deltalake import DeltaTable, write_deltalake
    DeltaTable(w.sales).delete("qty > 15")
    write_deltalake(w.sales, g.sales(1501, 200, region="north"), mode="overwrite",
                    predicate="region = 'north'", partition_by=["region"])
    events_appends(g, w, 11)

    # Same size, different content, same mtime.
    p = w.p("notes", "readme.txt")
    st = os.stat(p)
    old = read_bytes(p)
    with open(p, "w") as f:
        f.write(README_2)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(p)
    assert st2.st_size == st.st_size and st2.st_mtime_ns == st.st_mtime_ns and read_bytes(p) != old


def step4(w, g):
    expect_events_version(w, 11)
    from pyiceberg.types import StringType
    t = w.ice("customers")
    with t.update_schema() as upd:
        upd.add_column("tier", StringType())
    t.append(g.customers(max_id(t, "id") + 1, 300, True))
    t = w.ice("orders")
    t.append(g.orders(max_id(t, "order_id") + 1, 300))

    delta_append(w.sales, g.sales(2001, 400, with_channel=True), partition_by=["region"],
                 schema_mode="merge")
    from deltalake import DeltaTable
    assert "channel" in [f.name for f in DeltaTable(w.sales).schema().fields]

    events_appends(g, w, 15)
    lcp = w.p("delta", "events", "_delta_log", "_last_checkpoint")
    before, ino_before = read_bytes(lcp), os.stat(lcp).st_ino
    DeltaTable(w.events).create_checkpoint()
    after = read_bytes(lcp)
    assert json.loads(after)["version"] == 15, after
    if len(after) != len(before) or after == before:
        raise StepError(f"_last_checkpoint not rewritten with same size / new content:\n"
                        f"  before {before!r}\n  after  {after!r}")
    if os.environ.get("EVOLVE_VERBOSE"):
        print(f"_last_checkpoint: {before!r} -> {after!r}, inode "
              f"{'same' if os.stat(lcp).st_ino == ino_before else 'changed'}", file=sys.stderr)


def iceberg_referenced_files(table_dir):
    """Every file referenced by any metadata JSON left in table_dir/metadata: the
    metadata files themselves, manifest lists, manifests, data files (any status)."""
    import fastavro
    from table_check import uri_to_path
    mdir = os.path.join(table_dir, "metadata")
    refs = set()
    for f in os.listdir(mdir):
        if not f.endswith(".metadata.json"):
            continue
        refs.add(os.path.join(mdir, f))
        md = json.loads(read_bytes(os.path.join(mdir, f)))
        for s in md.get("snapshots", []):
            ml = uri_to_path(s["manifest-list"])
            refs.add(ml)
            with open(ml, "rb") as fh:
                for m in fastavro.reader(fh):
                    mp = uri_to_path(m["manifest_path"])
                    refs.add(mp)
                    with open(mp, "rb") as fh2:
                        for e in fastavro.reader(fh2):
                            refs.add(uri_to_path(e["data_file"]["file_path"]))
    return refs


def step5(w, g):
    expect_events_version(w, 15)
    # --- Delta: log retention 0, vacuum, checkpoint, cleanup_metadata.  delta-rs runs
    # an expired-log clean-up after every commit (delta.enableExpiredLogCleanup), so
    # once the retention is 0 even the property commit deletes the commits and
    # checkpoints before the latest checkpoint; cleanup_metadata() then deletes those
    # before the new one.  Only the new checkpoint's version stays loadable.
    from deltalake import DeltaTable
    for path, min_vacuumed in ((w.sales, 1), (w.events, 0)):
        DeltaTable(path).alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
        gone = DeltaTable(path).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        assert len(gone) >= min_vacuumed, (path, gone)
        dt_ = DeltaTable(path)
        dt_.create_checkpoint()
        dt_.cleanup_metadata()
        v = dt_.version()
        log = sorted(os.listdir(os.path.join(path, "_delta_log")))
        assert log == [f"{v:020d}.checkpoint.parquet", f"{v:020d}.json", "_last_checkpoint"], log

    # --- Iceberg orders: expire all but the last two snapshots; pyiceberg deletes the
    # old metadata JSON (delete-after-commit); then delete unreferenced files.
    t = w.ice("orders")
    t.transaction().set_properties({"write.metadata.delete-after-commit.enabled": "true",
                                    "write.metadata.previous-versions-max": "1"}).commit_transaction()
    t = w.ice("orders")
    snaps = sorted(t.metadata.snapshots, key=lambda s: s.sequence_number)
    keep = {s.snapshot_id for s in snaps[-2:]}
    assert t.metadata.current_snapshot_id in keep
    t.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in snaps if s.snapshot_id not in keep]).commit()
    # One more commit (still previous-versions-max 1) drops the pre-expiry metadata
    # file from the log, and pyiceberg deletes it; then previous-versions-max back to
    # 100 (the log is trimmed with the new value) so that step 6 deletes nothing.
    t = w.ice("orders")
    t.transaction().set_properties({"lakezip.evolve": "snapshots expired"}).commit_transaction()
    t = w.ice("orders")
    t.transaction().set_properties({"write.metadata.previous-versions-max": "100"}).commit_transaction()
    t = w.ice("orders")
    assert len(t.metadata.metadata_log) == 2, t.metadata.metadata_log
    mfiles = [f for f in os.listdir(w.p("default.db", "orders", "metadata")) if f.endswith(".metadata.json")]
    assert len(mfiles) == 3, mfiles
    assert {s.snapshot_id for s in t.metadata.snapshots} == keep
    tdir = w.p("default.db", "orders")
    refs = iceberg_referenced_files(tdir)
    deleted = 0
    for sub in ("data", "metadata"):
        for root, _dirs, files in os.walk(os.path.join(tdir, sub)):
            for f in files:
                fp = os.path.join(root, f)
                if fp not in refs:
                    assert not f.endswith(".metadata.json"), fp
                    os.remove(fp)
                    deleted += 1
    assert deleted > 0
    # partition directories left empty by the deletions
    for root, dirs, files in os.walk(os.path.join(tdir, "data"), topdown=False):
        if root != os.path.join(tdir, "data") and not os.listdir(root):
            os.rmdir(root)

    # --- Iceberg customers: expire all but the current snapshot (metadata only)
    t = w.ice("customers")
    cur = t.metadata.current_snapshot_id
    t.maintenance.expire_snapshots().by_ids(
        [s.snapshot_id for s in t.metadata.snapshots if s.snapshot_id != cur]).commit()
    t = w.ice("customers")
    assert [s.snapshot_id for s in t.metadata.snapshots] == [cur]

    os.remove(w.p("notes", "readme.txt"))
    with open(w.p("notes", "other.txt"), "w") as f:
        f.write(OTHER)


def step6(w, g):
    expect_events_version(w, 16)
    t = w.ice("orders")
    t.append(g.orders(max_id(t, "order_id") + 1, 200))
    t = w.ice("customers")
    t.append(g.customers(max_id(t, "id") + 1, 200, True))
    delta_append(w.sales, g.sales(3001, 300, with_channel=True), partition_by=["region"])
    events_appends(g, w, 17)


STEPS = [step1, step2, step3, step4, step5, step6]
assert len(STEPS) == NSTEPS


def run_step(n, wh):
    w = WH(wh)
    if n == 1:
        if os.path.exists(w.path) and (not os.path.isdir(w.path) or os.listdir(w.path)):
            raise StepError(f"refusing: {w.path} exists and is not an empty directory")
        os.makedirs(w.path, exist_ok=True)
    elif not os.path.isfile(w.p("catalog.db")):
        raise StepError(f"{w.path}/catalog.db missing: run step 1 first")
    STEPS[n - 1](w, Gen(n))
    for name in ("orders", "customers"):
        iceberg_highest_is_current(w, name)


# ----------------------------------------------------------------------------- main


def main(argv):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if len(argv) == 2 and argv[1] == "steps":
        print(NSTEPS)
        return 0
    if len(argv) == 4 and argv[1] == "step":
        try:
            n = int(argv[2])
        except ValueError:
            n = 0
        if not 1 <= n <= NSTEPS:
            print(f"step must be 1..{NSTEPS}", file=sys.stderr)
            return 2
        try:
            run_step(n, argv[3])
        except StepError as e:
            print(f"evolve.py step {n}: {e}", file=sys.stderr)
            return 1
        return 0
    if len(argv) == 3 and argv[1] == "expected":
        import table_check
        return table_check.cmd_expected(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        code = main(sys.argv)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: deltalake + pyarrow can abort() at exit.
    os._exit(code)
