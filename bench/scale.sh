#!/usr/bin/env bash
# Memory and time at scale: warehouses of 100,000 and 1,000,000 entries (100 Delta tables
# each, every data file referenced by the table's commit, so table-aware pack keeps them
# all). For each size: peak RSS and wall of `pack`, `ls` (every entry), `ls --tables` over
# HTTP (nginx, honours Range) with its requests and bytes, and `extract` of one table
# from the local archive and over HTTP. Prints markdown and writes docs/scale.md.
#   bench/scale.sh [ENTRIES...]   (default: 100000 1000000)
#   WORK=DIR                      where trees and archives go (default target/bench-scale;
#                                 1M entries need ~5 GB: 4 KiB a file on ext4, 0.3 GB archive)
#   CLEAN=1                       remove WORK at the end
# Goals (issue 7): peak RSS ≤ 64 MiB at 100k entries, ≤ 256 MiB at 1M; remote table
# listing independent of the entry count.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
work=${WORK:-$root/target/bench-scale}
out=$root/docs/scale.md
tables=100

cargo build --release --quiet -p archive-cli
lakezip=$root/target/release/lakezip
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
need_tools /usr/bin/time nginx curl jq
mkdir -p "$work/www"
work=$(cd "$work" && pwd)
tmp=$(mktemp -d /tmp/lakezip-bench-scale.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
  if [ "${CLEAN:-0}" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

group() { python3 -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$1"; }

# generate DIR ENTRIES: $tables Delta tables sharing ENTRIES files (data files of 64-319
# bytes, one commit per table adding them all)
generate() {
  python3 - "$1" "$2" "$tables" <<'PY'
import json, os, sys
root, entries, tables = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per_table = entries // tables - 1  # one commit file each
pool = os.urandom(4096)
for t in range(tables):
    table = os.path.join(root, "db", f"t{t:03}")
    os.makedirs(os.path.join(table, "data"))
    os.makedirs(os.path.join(table, "_delta_log"))
    lines = [
        '{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}',
        json.dumps({"metaData": {"id": f"t{t:03}", "format": {"provider": "parquet", "options": {}},
                                 "schemaString": "{}", "partitionColumns": [], "configuration": {}}}),
    ]
    for i in range(per_table):
        name = f"part-{i:06}-{t:03}.snappy.parquet"
        size = 64 + (i * 7 + t) % 256
        with open(os.path.join(table, "data", name), "wb") as f:
            f.write(pool[i % 1024:i % 1024 + size])
        lines.append(json.dumps({"add": {"path": f"data/{name}", "partitionValues": {}, "size": size,
                                         "modificationTime": 1700000000000, "dataChange": True}}))
    with open(os.path.join(table, "_delta_log", "00000000000000000000.json"), "w") as f:
        f.write("\n".join(lines) + "\n")
PY
}

# measure NAME CMD...: runs CMD (lib.sh's timed), appends "NAME wall_s peak_kib" to $tmp/m
measure() {
  local name=$1
  shift
  timed "$tmp/rss" "$tmp/wall" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || {
    note "$name failed:"
    cat "$tmp/stderr" >&2
    exit 1
  }
  echo "$name $(printf '%.2f' "$(cat "$tmp/wall")") $(cat "$tmp/rss")" >>"$tmp/m"
}

load_before=$(loadavg)
echo ok >"$work/www/probe"
start_nginx "$work/www" probe "$tmp/access.log" "$tmp/nginx"
url=$nginx_url

# stats FILE: "requests bytes" from the JSON Lines of a --stats --json run (a `stats`
# record, or a summary with a `stats` member)
stats() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    s = r if r.get("type") == "stats" else r.get("stats")
    if isinstance(s, dict):
        print(s["requests"], s.get("bytes", s.get("bytes_read")))
        break
else:
    sys.exit("no stats record")
' "$1"
}

rows=()
for n in "${sizes[@]}"; do
  src=$work/src-$n
  if [ ! -f "$src.done" ]; then
    note "generating $n entries in $src"
    rm -rf "$src"
    generate "$src" "$n"
    touch "$src.done"
  fi
  archive=$work/www/s$n.zip
  : >"$tmp/m"
  note "pack ($n)"
  measure pack "$lakezip" pack "$src" -o "$archive" --force --quiet
  entries=$("$lakezip" ls "$archive" --json | grep -c '"type":"entry"' || true)
  size=$(stat -c %s "$archive")
  note "ls ($n)"
  measure ls "$lakezip" ls "$archive"
  note "ls --tables over HTTP ($n)"
  measure ls_tables_http "$lakezip" ls "$url/s$n.zip" --tables --stats --json
  read -r lt_req lt_bytes < <(stats "$tmp/stdout")
  rm -rf "$work/out"
  note "extract one table ($n)"
  measure extract "$lakezip" extract "$archive" db/t042 -C "$work/out" --quiet
  rm -rf "$work/out"
  measure extract_http "$lakezip" extract "$url/s$n.zip" db/t042 -C "$work/out" --quiet --stats --json
  read -r ex_req ex_bytes < <(stats "$tmp/stdout")
  diff -r "$src/db/t042" "$work/out/db/t042" >/dev/null || {
    note "extracted table differs from its source"
    exit 1
  }
  rm -rf "$work/out"
  declare -A w=() r=()
  while read -r name wall kib; do
    w[$name]=$wall
    r[$name]=$((kib / 1024))
  done <"$tmp/m"
  rows+=("| $(group "$n") ($(group "$entries") in the archive, $((size / 1048576)) MiB) | ${w[pack]} s / ${r[pack]} MiB | ${w[ls]} s / ${r[ls]} MiB | ${w[ls_tables_http]} s / ${r[ls_tables_http]} MiB, $lt_req requests, $(group "$lt_bytes") B | ${w[extract]} s / ${r[extract]} MiB | ${w[extract_http]} s / ${r[extract_http]} MiB, $ex_req requests, $(group "$ex_bytes") B |")
  unset w r
done

{
  echo "# Scale: memory and time by entry count"
  echo
  echo "\`${CLEAN:+CLEAN=$CLEAN }bench/scale.sh ${sizes[*]}\`"
  echo
  machine_md "$work"
  echo "- load average: $load_before before the run, $(loadavg) after"
  echo
  echo "Each warehouse: $tables Delta tables, every data file (64–319 bytes) added by the table's commit; one table is 1% of the entries. Each cell: wall time / peak RSS (GNU time, maximum resident set size). HTTP: nginx on loopback; requests and bytes from \`--stats\`. Goals (issue 7): peak RSS ≤ 64 MiB at 100,000 entries and ≤ 256 MiB at 1,000,000; remote table listing independent of the entry count."
  echo
  echo "| entries | pack | ls (every entry) | ls --tables over HTTP | extract one table, local | extract one table over HTTP |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out"
