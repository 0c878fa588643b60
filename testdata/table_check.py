#!/usr/bin/env python3
"""Row-level checks of Iceberg / Delta tables in a warehouse.

Usage:
  python testdata/table_check.py expected WAREHOUSE_DIR > expected.json
  python testdata/table_check.py check WAREHOUSE_DIR TABLE_PATH EXPECTED_JSON
  python testdata/table_check.py check WAREHOUSE_DIR --all EXPECTED_JSON

expected: finds every table under WAREHOUSE_DIR (Iceberg: a directory with
  metadata/*.metadata.json; Delta: a directory with _delta_log/) and prints, per
  table, the row count and row checksum of the current state and of every
  snapshot (Iceberg, in metadata order) / loadable version (Delta).  Iceberg is
  read with pyiceberg's StaticTable (from the original absolute paths); the direct
  reader used by `check` is run too and must agree.

check: checks one table (or all tables with --all) of a warehouse that may be an
  extracted copy, reading ONLY files inside WAREHOUSE_DIR:
  - Iceberg: the current metadata file is metadata/version-hint.text if present,
    else the highest-numbered metadata/*.metadata.json.  Every absolute path in
    the metadata / manifest lists / manifests is mapped into WAREHOUSE_DIR: paths
    under expected.json's `warehouse_uri` have that prefix replaced by
    WAREHOUSE_DIR's file URI; paths already under WAREHOUSE_DIR are used as they
    are (a relocating extractor); anything else is a mismatch.  Manifests must
    exist with size == manifest_length, data files with size ==
    file_size_in_bytes and row count == record_count.  Rows are read from the data
    files with pyarrow.parquet, columns matched by Iceberg field id against the
    snapshot's schema (missing columns read as null).  Delete files are not
    supported (pyiceberg 0.12 writes none) and are reported as mismatches.
  - Delta: deltalake.DeltaTable(WAREHOUSE_DIR/TABLE_PATH[, version=v]); every
    data file URI must lie inside the table directory.
  Prints one line per mismatch; exit status 1 if any, 0 if all match.

Row checksum: sum over rows of sha256(canonical row) mod 2**256, as 64 hex
digits.  Canonical row = json.dumps(row_dict, sort_keys=True,
separators=(",", ":"), ensure_ascii=False, default=str) where row_dict maps
column name -> value as produced by pyarrow's to_pylist() (so dates/timestamps
appear as str(value), e.g. "2024-01-01 10:00:00" or "2024-05-01 00:00:00+00:00").
"""
import glob
import hashlib
import json
import os
import re
import sys

MOD = 1 << 256


# ----------------------------------------------------------------------------- checksum


def row_digest(row):
    s = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest(), "big")


class Acc:
    def __init__(self):
        self.rows = 0
        self.sum = 0

    def add_table(self, table):
        for batch in table.to_batches():
            for row in batch.to_pylist():
                self.rows += 1
                self.sum = (self.sum + row_digest(row)) % MOD
        return self

    def add_rows(self, rows):
        for row in rows:
            self.rows += 1
            self.sum = (self.sum + row_digest(row)) % MOD
        return self

    def result(self):
        return {"rows": self.rows, "checksum": f"{self.sum:064x}"}


# ----------------------------------------------------------------------------- discovery


def find_tables(wh):
    """Yield (relpath, format) for every table under wh; do not descend into tables."""
    out = []
    for root, dirs, _files in os.walk(wh):
        dirs.sort()
        if os.path.isdir(os.path.join(root, "_delta_log")):
            out.append((os.path.relpath(root, wh), "delta"))
            dirs[:] = []
        elif glob.glob(os.path.join(glob.escape(root), "metadata", "*.metadata.json")):
            out.append((os.path.relpath(root, wh), "iceberg"))
            dirs[:] = []
    return out


_MD_RE = re.compile(r"^(?:v?(\d+))(?:-[^/]*)?\.metadata\.json$")


def current_iceberg_metadata(table_dir):
    """Return (abs path of the current metadata file, how it was chosen)."""
    mdir = os.path.join(table_dir, "metadata")
    hint = os.path.join(mdir, "version-hint.text")
    if os.path.exists(hint):
        v = open(hint).read().strip()
        for cand in (v, f"v{v}.metadata.json", f"{v}.metadata.json"):
            if cand and os.path.isfile(os.path.join(mdir, cand)):
                return os.path.join(mdir, cand), "version-hint"
        cands = [f for f in os.listdir(mdir) if (m := _MD_RE.match(f)) and v.isdigit() and int(m.group(1)) == int(v)]
        if len(cands) == 1:
            return os.path.join(mdir, cands[0]), "version-hint"
        raise RuntimeError(f"version-hint.text names {v!r}, no unique matching metadata file")
    best = None
    for f in os.listdir(mdir):
        m = _MD_RE.match(f)
        if m:
            key = (int(m.group(1)), f)
            if best is None or key > best:
                best = key
    if best is None:
        raise RuntimeError(f"no metadata file in {mdir}")
    return os.path.join(mdir, best[1]), "highest-numbered"


def uri_to_path(p):
    """Iceberg path (file:///x, file:/x or /x) -> local path.  Never percent-decoded."""
    if p.startswith("file://"):
        return p[len("file://"):]
    if p.startswith("file:"):
        return p[len("file:"):]
    if p.startswith("/"):
        return p
    raise ValueError(f"unsupported path scheme: {p}")


# ----------------------------------------------------------------------------- iceberg direct reader


class Mismatch(Exception):
    pass


class IcebergDirect:
    """Reads an Iceberg table's snapshots straight from Parquet, with relocated paths."""

    def __init__(self, wh, table_rel, old_wh_uri, problems):
        self.wh = os.path.abspath(wh)
        self.table_dir = os.path.join(self.wh, table_rel)
        self.old_root = uri_to_path(old_wh_uri).rstrip("/") if old_wh_uri else None
        self.problems = problems
        self.md_path, self.md_how = current_iceberg_metadata(self.table_dir)
        with open(self.md_path) as f:
            self.md = json.load(f)
        self.schemas = {s["schema-id"]: s for s in self.md.get("schemas", [])}
        self.files_checked = set()

    def local(self, p):
        lp = uri_to_path(p)
        if lp == self.wh or lp.startswith(self.wh + "/"):
            return lp
        if self.old_root and (lp == self.old_root or lp.startswith(self.old_root + "/")):
            return self.wh + lp[len(self.old_root):]
        raise Mismatch(f"path outside warehouse: {p}")

    def check_file(self, p, size=None, what="file"):
        lp = self.local(p)
        if not os.path.isfile(lp):
            raise Mismatch(f"missing {what}: {os.path.relpath(lp, self.wh)}")
        if size is not None and os.path.getsize(lp) != size:
            raise Mismatch(f"size of {what} {os.path.relpath(lp, self.wh)}: "
                           f"{os.path.getsize(lp)} on disk, {size} recorded")
        return lp

    def data_files(self, snap):
        import fastavro
        ml = self.check_file(snap["manifest-list"], what="manifest list")
        with open(ml, "rb") as f:
            manifests = list(fastavro.reader(f))
        out = []
        for m in manifests:
            content = m.get("content", 0)
            if content != 0:
                raise Mismatch(f"delete manifest not supported: {m['manifest_path']}")
            mp = self.check_file(m["manifest_path"], m.get("manifest_length"), "manifest")
            with open(mp, "rb") as f:
                for e in fastavro.reader(f):
                    if e["status"] == 2:  # DELETED
                        continue
                    df = e["data_file"]
                    if df.get("content", 0) != 0:
                        raise Mismatch(f"delete file not supported: {df['file_path']}")
                    out.append(df)
        return out

    def read_snapshot(self, snap):
        import pyarrow.parquet as pq
        schema = self.schemas.get(snap.get("schema-id", self.md.get("current-schema-id")))
        if schema is None:
            raise Mismatch(f"snapshot {snap['snapshot-id']}: schema {snap.get('schema-id')} not in metadata")
        fields = schema["fields"]
        for fld in fields:
            if not isinstance(fld["type"], str):
                raise Mismatch(f"nested column {fld['name']} not supported by the direct reader")
        acc = Acc()
        for df in self.data_files(snap):
            lp = self.check_file(df["file_path"], df["file_size_in_bytes"], "data file")
            t = pq.read_table(lp)
            if t.num_rows != df["record_count"]:
                raise Mismatch(f"record_count of {os.path.relpath(lp, self.wh)}: "
                               f"{t.num_rows} in file, {df['record_count']} recorded")
            by_id = {}
            for i, f in enumerate(t.schema):
                fid = (f.metadata or {}).get(b"PARQUET:field_id")
                if fid is not None:
                    by_id[int(fid)] = i
            cols = {}
            for fld in fields:
                i = by_id.get(fld["id"])
                cols[fld["name"]] = t.column(i).to_pylist() if i is not None else [None] * t.num_rows
            names = list(cols)
            acc.add_rows({n: cols[n][r] for n in names} for r in range(t.num_rows))
        return acc.result()

    def snapshots(self):
        return sorted(self.md.get("snapshots", []), key=lambda s: (s.get("sequence-number", 0), s["timestamp-ms"]))

    def current(self):
        cur = self.md.get("current-snapshot-id")
        if cur is None or cur == -1:
            return None
        for s in self.md.get("snapshots", []):
            if s["snapshot-id"] == cur:
                return s
        raise Mismatch(f"current snapshot {cur} not in metadata")


# ----------------------------------------------------------------------------- expected


def iceberg_expected(wh, rel):
    from pyiceberg.table import StaticTable
    md_path, how = current_iceberg_metadata(os.path.join(wh, rel))
    tbl = StaticTable.from_metadata(md_path)
    md = tbl.metadata
    loc = md.location.rstrip("/")
    if not loc.endswith("/" + rel):
        raise RuntimeError(f"{rel}: metadata location {loc} does not end with the table path")
    wh_uri = loc[: -len(rel) - 1]
    cur = Acc().add_table(tbl.scan().to_arrow()).result() if md.current_snapshot_id is not None else Acc().result()
    snaps = []
    for s in sorted(md.snapshots, key=lambda s: (s.sequence_number or 0, s.timestamp_ms)):
        r = Acc().add_table(tbl.scan(snapshot_id=s.snapshot_id).to_arrow()).result()
        snaps.append({
            "snapshot_id": s.snapshot_id,
            "sequence_number": s.sequence_number,
            "operation": s.summary.operation.value if s.summary else None,
            "schema_id": s.schema_id,
            **r,
        })
    # The direct reader used by `check` must agree with pyiceberg.
    d = IcebergDirect(wh, rel, wh_uri, [])
    for s in snaps:
        raw = next(x for x in d.snapshots() if x["snapshot-id"] == s["snapshot_id"])
        got = d.read_snapshot(raw)
        if got != {"rows": s["rows"], "checksum": s["checksum"]}:
            raise RuntimeError(f"{rel}: snapshot {s['snapshot_id']}: pyiceberg {s} != direct {got}")
    entry = {
        "format": "iceberg",
        "metadata_file": os.path.relpath(md_path, os.path.join(wh, rel)),
        "metadata_chosen_by": how,
        "format_version": md.format_version,
        "current_snapshot_id": md.current_snapshot_id,
        **cur,
        "snapshots": snaps,
    }
    return entry, wh_uri


def delta_load(path, version=None):
    from deltalake import DeltaTable
    return DeltaTable(path) if version is None else DeltaTable(path, version=version)


def delta_rows(dt):
    # DataFusion via QueryBuilder; to_pyarrow_table()/to_pyarrow_dataset() work too but
    # (deltalake 1.6.6 + pyarrow 26) often abort the interpreter at exit.
    import pyarrow as pa
    from deltalake import QueryBuilder
    t = pa.table(QueryBuilder().register("t", dt).execute("SELECT * FROM t"))
    return Acc().add_table(t).result()


def delta_expected(wh, rel):
    path = os.path.join(wh, rel)
    dt = delta_load(path)
    cur_v = dt.version()
    versions = []
    for v in range(cur_v + 1):
        try:
            dv = delta_load(path, v)
        except Exception:  # log cleaned up before this version
            continue
        versions.append({"version": v, **delta_rows(dv)})
    return {"format": "delta", "current_version": cur_v, **delta_rows(dt), "versions": versions}


def cmd_expected(wh):
    wh = os.path.abspath(wh)
    tables = {}
    wh_uri = None
    for rel, fmt in find_tables(wh):
        if fmt == "iceberg":
            entry, u = iceberg_expected(wh, rel)
            if wh_uri is not None and u != wh_uri:
                raise RuntimeError(f"{rel}: warehouse uri {u} differs from {wh_uri}")
            wh_uri = u
        else:
            entry = delta_expected(wh, rel)
        tables[rel] = entry
    out = {"warehouse_uri": wh_uri or f"file://{wh}", "tables": tables}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


# ----------------------------------------------------------------------------- check


def check_iceberg(wh, rel, exp, wh_uri, problems):
    try:
        d = IcebergDirect(wh, rel, wh_uri, problems)
    except Exception as e:
        problems.append(f"{rel}: cannot load metadata: {e}")
        return
    cur_id = d.md.get("current-snapshot-id")
    if cur_id == -1:
        cur_id = None
    if cur_id != exp["current_snapshot_id"]:
        problems.append(f"{rel}: current snapshot {cur_id} (from {os.path.basename(d.md_path)}), "
                        f"expected {exp['current_snapshot_id']}")
    try:
        d.local(d.md["location"])
    except Mismatch as e:
        problems.append(f"{rel}: table location: {e}")
    raw = {s["snapshot-id"]: s for s in d.snapshots()}
    results = {}
    for s in exp["snapshots"]:
        sid = s["snapshot_id"]
        if sid not in raw:
            problems.append(f"{rel}: snapshot {sid} missing from metadata")
            continue
        try:
            got = d.read_snapshot(raw[sid])
        except Mismatch as e:
            problems.append(f"{rel}: snapshot {sid}: {e}")
            continue
        except Exception as e:
            problems.append(f"{rel}: snapshot {sid}: error {type(e).__name__}: {e}")
            continue
        results[sid] = got
        for k in ("rows", "checksum"):
            if got[k] != s[k]:
                problems.append(f"{rel}: snapshot {sid}: {k} {got[k]}, expected {s[k]}")
    extra = set(raw) - {s["snapshot_id"] for s in exp["snapshots"]}
    for sid in sorted(extra):
        problems.append(f"{rel}: unexpected snapshot {sid} in metadata")
    # current state
    if cur_id is None:
        got = Acc().result()
    elif cur_id in results:
        got = results[cur_id]
    elif cur_id in {s["snapshot_id"] for s in exp["snapshots"]}:
        return  # already reported above
    else:
        try:
            got = d.read_snapshot(d.current())
        except Exception as e:
            problems.append(f"{rel}: current snapshot: {e}")
            return
    for k in ("rows", "checksum"):
        if got[k] != exp[k]:
            problems.append(f"{rel}: current {k} {got[k]}, expected {exp[k]}")


def check_delta(wh, rel, exp, problems):
    path = os.path.abspath(os.path.join(wh, rel))

    def files_inside(dt, label):
        for u in dt.file_uris():
            lp = u[len("file://"):] if u.startswith("file://") else u
            # deltalake percent-encodes the table root (a space is %20) but the
            # partition folders below it hold literal %xx: accept either spelling.
            from urllib.parse import unquote
            if not (lp.startswith(path + "/") or unquote(lp).startswith(path + "/")):
                problems.append(f"{rel}: {label}: data file outside the table: {u}")

    try:
        dt = delta_load(path)
    except Exception as e:
        problems.append(f"{rel}: cannot open Delta table: {e}")
        return
    if dt.version() != exp["current_version"]:
        problems.append(f"{rel}: current version {dt.version()}, expected {exp['current_version']}")
    files_inside(dt, "current")
    got = delta_rows(dt)
    for k in ("rows", "checksum"):
        if got[k] != exp[k]:
            problems.append(f"{rel}: current {k} {got[k]}, expected {exp[k]}")
    for ve in exp["versions"]:
        v = ve["version"]
        try:
            dv = delta_load(path, v)
            files_inside(dv, f"version {v}")
            got = delta_rows(dv)
        except Exception as e:
            problems.append(f"{rel}: version {v}: cannot load: {type(e).__name__}: {e}")
            continue
        for k in ("rows", "checksum"):
            if got[k] != ve[k]:
                problems.append(f"{rel}: version {v}: {k} {got[k]}, expected {ve[k]}")


def cmd_check(wh, table, expected_json):
    with open(expected_json) as f:
        exp = json.load(f)
    tables = sorted(exp["tables"]) if table == "--all" else [table.strip("/")]
    problems = []
    for rel in tables:
        e = exp["tables"].get(rel)
        if e is None:
            problems.append(f"{rel}: not in {expected_json}")
            continue
        n = len(problems)
        if e["format"] == "iceberg":
            check_iceberg(wh, rel, e, exp.get("warehouse_uri"), problems)
        else:
            check_delta(wh, rel, e, problems)
        if len(problems) == n:
            k = "snapshots" if e["format"] == "iceberg" else "versions"
            print(f"ok {rel}: {e['rows']} rows, {len(e[k])} {k}", file=sys.stderr)
    for p in problems:
        print(p)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "expected":
        return cmd_expected(argv[2])
    if len(argv) == 5 and argv[1] == "check":
        return cmd_check(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: deltalake + pyarrow can abort() at exit.
    os._exit(code)
