#!/usr/bin/env python3
"""Generate the lakezip test warehouse (Iceberg + Delta tables + loose files).

Usage: python testdata/make_warehouse.py OUT_DIR

Data is deterministic (fixed numpy seed).  Iceberg file names, snapshot ids and
commit timestamps are random uuids/ids chosen by pyiceberg / delta-rs, so two runs
give the same rows but different file names.

Layout written to OUT_DIR:
  catalog.db                         pyiceberg SqlCatalog (sqlite), warehouse = file://OUT_DIR
  default.db/events                  Iceberg, partitioned by day(ts), 6 appends
  default.db/orders                  Iceberg, 4 appends + overwrite(filter) + delete + append
  default.db/customers               Iceberg, 2 appends, add column `tier`, 2 more appends
  default.db/tricky                  Iceberg, identity partition on strings needing escaping
  delta/sales                        Delta, partitioned by region, appends + delete + replaceWhere
  delta/events_log                   Delta, 15 commits, checkpoint, 4 commits after it
  README.txt, misc/notes.json        loose non-table files

Iceberg tables have no metadata/version-hint.text (SqlCatalog keeps the pointer in
catalog.db); the script asserts that the catalog's metadata_location is the
highest-numbered metadata/*.metadata.json of each table.
"""
import datetime as dt
import json
import os
import re
import sys

import numpy as np
import pyarrow as pa

SEED = 20240607


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)


# ----------------------------------------------------------------------------- data


class Gen:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def words(self, n, vocab, k=3):
        idx = self.rng.integers(0, len(vocab), size=(n, k))
        return [" ".join(vocab[j] for j in row) for row in idx]


VOCAB = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu").split()
KINDS = ["click", "view", "purchase", "signup", "logout"]
STATUSES = ["pending", "shipped", "delivered", "cancelled", "returned"]
REGIONS = ["north", "south", "east west", "x:y/z%"]  # last two need escaping in paths
CATEGORIES = ["plain", "a b:c/d%", "ümlaut", "semi;colon=eq"]


def events_batch(g, start_id, n, day0, ndays):
    base = dt.datetime(2024, 1, 1) + dt.timedelta(days=day0)
    secs = g.rng.integers(0, ndays * 86400, size=n)
    return pa.table({
        "event_id": pa.array(np.arange(start_id, start_id + n, dtype=np.int64)),
        "ts": pa.array([base + dt.timedelta(seconds=int(s)) for s in secs], type=pa.timestamp("us")),
        "kind": pa.array([KINDS[i] for i in g.rng.integers(0, len(KINDS), size=n)]),
        "user_id": pa.array(g.rng.integers(1, 500, size=n, dtype=np.int64)),
        "value": pa.array(np.round(g.rng.normal(50, 20, size=n), 3)),
        "payload": pa.array(g.words(n, VOCAB, 4)),
    })


def orders_batch(g, start_id, n):
    days = g.rng.integers(0, 90, size=n)
    return pa.table({
        "order_id": pa.array(np.arange(start_id, start_id + n, dtype=np.int64)),
        "customer_id": pa.array(g.rng.integers(1, 300, size=n, dtype=np.int64)),
        "amount": pa.array(np.round(g.rng.uniform(1, 1000, size=n), 2)),
        "status": pa.array([STATUSES[i] for i in g.rng.integers(0, len(STATUSES), size=n)]),
        "created": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in days], type=pa.date32()),
        "note": pa.array(g.words(n, VOCAB, 3)),
    })


def customers_batch(g, start_id, n, with_tier):
    cols = {
        "id": pa.array(np.arange(start_id, start_id + n, dtype=np.int64)),
        "name": pa.array(g.words(n, VOCAB, 2)),
        "email": pa.array([f"user{i}@example.com" for i in range(start_id, start_id + n)]),
        "active": pa.array([bool(b) for b in g.rng.integers(0, 2, size=n)]),
    }
    if with_tier:
        tiers = ["gold", "silver", "bronze", None]
        cols["tier"] = pa.array([tiers[i] for i in g.rng.integers(0, 4, size=n)], type=pa.string())
    return pa.table(cols)


def tricky_batch(g, start_id, n):
    return pa.table({
        "id": pa.array(np.arange(start_id, start_id + n, dtype=np.int64)),
        "category": pa.array([CATEGORIES[i] for i in g.rng.integers(0, len(CATEGORIES), size=n)]),
        "text": pa.array(g.words(n, VOCAB, 2)),
    })


def sales_batch(g, start_id, n):
    return pa.table({
        "sale_id": pa.array(np.arange(start_id, start_id + n, dtype=np.int64)),
        "region": pa.array([REGIONS[i] for i in g.rng.integers(0, len(REGIONS), size=n)]),
        "product": pa.array(g.words(n, VOCAB, 1)),
        "qty": pa.array(g.rng.integers(1, 20, size=n, dtype=np.int32)),
        "price": pa.array(np.round(g.rng.uniform(0.5, 200, size=n), 2)),
        "sold_on": pa.array([dt.date(2024, 3, 1) + dt.timedelta(days=int(d))
                             for d in g.rng.integers(0, 60, size=n)], type=pa.date32()),
    })


def log_batch(g, start_id, n, commit):
    base = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=commit)
    return pa.table({
        "seq": pa.array(np.arange(start_id, start_id + n, dtype=np.int64)),
        "at": pa.array([base + dt.timedelta(seconds=int(s)) for s in g.rng.integers(0, 3600, size=n)],
                       type=pa.timestamp("us", tz="UTC")),
        "level": pa.array([["DEBUG", "INFO", "WARN", "ERROR"][i] for i in g.rng.integers(0, 4, size=n)]),
        "message": pa.array(g.words(n, VOCAB, 5)),
        "commit": pa.array(np.full(n, commit, dtype=np.int32)),
    })


# ----------------------------------------------------------------------------- iceberg


def make_iceberg(out, g):
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import DayTransform, IdentityTransform
    from pyiceberg.types import (BooleanType, DateType, DoubleType, LongType, NestedField,
                                 StringType, TimestampType)

    cat = SqlCatalog("default", uri=f"sqlite:///{out}/catalog.db", warehouse=f"file://{out}")
    # pyiceberg 0.12's SqlCatalog would put tables at OUT_DIR/default/<name>; pin the
    # namespace location so they land at OUT_DIR/default.db/<name>.
    cat.create_namespace("default", {"location": f"file://{out}/default.db"})

    # events: day-partitioned, 4 appends
    schema = Schema(
        NestedField(1, "event_id", LongType(), required=False),
        NestedField(2, "ts", TimestampType(), required=False),
        NestedField(3, "kind", StringType(), required=False),
        NestedField(4, "user_id", LongType(), required=False),
        NestedField(5, "value", DoubleType(), required=False),
        NestedField(6, "payload", StringType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=DayTransform(), name="ts_day"))
    t = cat.create_table("default.events", schema=schema, partition_spec=spec)
    nid = 1
    for day0 in (0, 3, 5, 9, 12, 14):
        t.append(events_batch(g, nid, 2500, day0, 4))
        nid += 2500

    # orders: appends, overwrite with filter, delete, append
    schema = Schema(
        NestedField(1, "order_id", LongType(), required=False),
        NestedField(2, "customer_id", LongType(), required=False),
        NestedField(3, "amount", DoubleType(), required=False),
        NestedField(4, "status", StringType(), required=False),
        NestedField(5, "created", DateType(), required=False),
        NestedField(6, "note", StringType(), required=False),
    )
    t = cat.create_table("default.orders", schema=schema)
    nid = 1
    for _ in range(4):
        t.append(orders_batch(g, nid, 4000))
        nid += 4000
    repl = orders_batch(g, nid, 800)
    repl = repl.set_column(repl.schema.get_field_index("status"), "status", pa.array(["pending"] * 800))
    nid += 800
    t.overwrite(repl, overwrite_filter="status == 'pending'")
    t.delete("status == 'cancelled'")
    t.append(orders_batch(g, nid, 1000))
    nid += 1000

    # customers: 2 appends, add column, 2 appends
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "email", StringType(), required=False),
        NestedField(4, "active", BooleanType(), required=False),
    )
    t = cat.create_table("default.customers", schema=schema)
    nid = 1
    for _ in range(2):
        t.append(customers_batch(g, nid, 1500, False))
        nid += 1500
    with t.update_schema() as upd:
        upd.add_column("tier", StringType())
    for _ in range(2):
        t.append(customers_batch(g, nid, 1500, True))
        nid += 1500

    # tricky: identity partition on values needing escaping
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "category", StringType(), required=False),
        NestedField(3, "text", StringType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="category"))
    t = cat.create_table("default.tricky", schema=schema, partition_spec=spec)
    t.append(tricky_batch(g, 1, 400))
    t.append(tricky_batch(g, 401, 400))

    # The catalog's pointer must be the highest-numbered metadata file of each table.
    for name in ("events", "orders", "customers", "tricky"):
        t = cat.load_table(f"default.{name}")
        mdir = os.path.join(out, "default.db", name, "metadata")
        files = sorted(f for f in os.listdir(mdir) if f.endswith(".metadata.json"))
        nums = [int(re.match(r"(\d+)-", f).group(1)) for f in files]
        assert len(set(nums)) == len(nums), f"duplicate metadata version numbers in {mdir}"
        highest = files[nums.index(max(nums))]
        loc = t.metadata_location
        assert loc == f"file://{mdir}/{highest}", (loc, highest)
        assert not os.path.exists(os.path.join(mdir, "version-hint.text"))


# ----------------------------------------------------------------------------- delta


def make_delta(out, g):
    from deltalake import DeltaTable, write_deltalake

    p = os.path.join(out, "delta", "sales")
    nid = 1
    for i in range(5):
        write_deltalake(p, sales_batch(g, nid, 2500), mode="append", partition_by=["region"])
        nid += 2500
    dtab = DeltaTable(p)
    dtab.delete("qty > 15")
    repl = sales_batch(g, nid, 500)
    repl = repl.set_column(repl.schema.get_field_index("region"), "region", pa.array(["north"] * 500))
    nid += 500
    write_deltalake(p, repl, mode="overwrite", predicate="region = 'north'", partition_by=["region"])
    write_deltalake(p, sales_batch(g, nid, 700), mode="append", partition_by=["region"])

    p = os.path.join(out, "delta", "events_log")
    nid = 1
    commit = 0
    for _ in range(15):
        write_deltalake(p, log_batch(g, nid, 500, commit), mode="append")
        nid += 500
        commit += 1
    DeltaTable(p).create_checkpoint()
    for _ in range(4):
        write_deltalake(p, log_batch(g, nid, 500, commit), mode="append")
        nid += 500
        commit += 1
    log = os.path.join(p, "_delta_log")
    assert os.path.exists(os.path.join(log, "_last_checkpoint"))
    assert any(f.endswith(".checkpoint.parquet") for f in os.listdir(log))


# ----------------------------------------------------------------------------- loose files


def make_loose(out):
    with open(os.path.join(out, "README.txt"), "w") as f:
        f.write("lakezip test warehouse.\nGenerated by testdata/make_warehouse.py; "
                "Iceberg tables under default.db/, Delta tables under delta/.\n")
    os.makedirs(os.path.join(out, "misc"), exist_ok=True)
    with open(os.path.join(out, "misc", "notes.json"), "w") as f:
        json.dump({"seed": SEED, "note": "loose file, not part of any table",
                   "tables": ["default.db/events", "default.db/orders", "default.db/customers",
                              "default.db/tricky", "delta/sales", "delta/events_log"]}, f, indent=2)
        f.write("\n")


def main():
    if len(sys.argv) != 2:
        die(__doc__)
    out = os.path.abspath(sys.argv[1])
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        die(f"refusing: {out} exists and is not an empty directory")
    os.makedirs(out, exist_ok=True)
    g = Gen(SEED)
    make_iceberg(out, g)
    make_delta(out, g)
    make_loose(out)
    nfiles = 0
    size = 0
    for root, _, files in os.walk(out):
        for f in files:
            nfiles += 1
            size += os.path.getsize(os.path.join(root, f))
    print(f"wrote {out}: {nfiles} files, {size} bytes")


if __name__ == "__main__":
    main()
