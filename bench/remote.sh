#!/usr/bin/env bash
# Remote extraction over loopback HTTP (nginx), lakezip vs remotezip, and vs the whole
# archive a `tar -cf` or `zip -0 -r` user downloads to get one table, in the same run:
#   1. one ~1,000-file table out of a ~52,500-entry archive, direct;
#   2. the same through a proxy adding DELAY_MS (default 20) to every request (and 0 ms);
#   3. one ~1 GiB table through the proxy, lakezip --concurrency 1 vs 8 (also 0 ms, direct).
# Requests and bytes are counted from nginx's access log (the same way for every tool);
# wall time is the median of RUNS (default 3) runs, peak RSS (GNU time's %M) the largest;
# every extraction is checked with diff -r against the source tree. Prints markdown and
# writes it to $RESULTS/remote.md (default bench/results), with one JSON line per row in
# $RESULTS/remote.jsonl (read by bench/run).
#   bench/remote.sh            (data kept under target/bench-remote and reused, ~2.3 GB;
#                               CLEAN=1 removes it at the end; peak disk ~3.5 GB; the
#                               access log of each case's last run: target/bench-remote/logs)
# Sizes: TABLES (default 50) tables of TABLE_FILES (1050) data files in sections 1-2,
# BIG_FILES (64) files of 16 MiB in section 3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
cmdline="bench/remote.sh${*:+ $*}"
for v in RUNS DELAY_MS TABLES TABLE_FILES BIG_FILES RESULTS CLEAN; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done
runs=${RUNS:-3}
delay_ms=${DELAY_MS:-20}
tables=${TABLES:-50}
table_files=${TABLE_FILES:-1050}
big_files=${BIG_FILES:-64}
work=$root/target/bench-remote
www=$work/www
results=${RESULTS:-$root/bench/results}
need_tools /usr/bin/time jq bc curl flock tar zip unzip python3

mkdir -p "$work" "$www" "$results"
# one run at a time: concurrent runs would share the data and skew each other's times
exec 9>"$work/.lock"
if ! flock -n 9; then
  note "another bench/remote.sh is running; waiting for it"
  flock 9
fi

cargo build --release --quiet -p archive-cli
lakezip=$root/target/release/lakezip
py=$(bench_python)
"$py" -c 'import remotezip' 2>/dev/null || "$py" -m pip install --quiet remotezip

rm -rf "$work/logs" "$work"/out.* "$work/dl"
mkdir -p "$work/logs"
tmp=$(mktemp -d /tmp/lakezip-bench-remote.XXXXXX)
out_dir=$(mktemp -d "$work/out.XXXXXX") # extraction target, emptied before each run
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp" "$out_dir" "$work/dl"
  if [ "${CLEAN:-0}" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

report=$tmp/report.md
jsonl=$tmp/remote.jsonl
: >"$jsonl"
md() { printf '%s\n' "$*" | tee -a "$report"; }
load_note() { # warn when something else was using the CPUs
  if [ "$(echo "$(load1) > $(nproc)" | bc)" = 1 ] || [ "$(echo "$1 > $(nproc)" | bc)" = 1 ]; then
    md ""
    md "**Note: load average above $(nproc) (other processes running) — times are less reliable.**"
  fi
}

# ---------------------------------------------------------------- data
# delta_commit TABLE_DIR ID: the table's first commit, adding every file under data/ (a
# table-aware pack keeps exactly the files a commit references)
delta_commit() {
  python3 - "$1" "$2" <<'PY'
import json, os, sys
table, table_id = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(table, "_delta_log"), exist_ok=True)
actions = [
    {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
    {"metaData": {"id": table_id, "format": {"provider": "parquet", "options": {}},
                  "schemaString": "{}", "partitionColumns": [], "configuration": {}}},
]
for name in sorted(os.listdir(os.path.join(table, "data"))):
    st = os.stat(os.path.join(table, "data", name))
    actions.append({"add": {"path": f"data/{name}", "partitionValues": {}, "size": st.st_size,
                            "modificationTime": int(st.st_mtime * 1000), "dataChange": True}})
with open(os.path.join(table, "_delta_log", "00000000000000000000.json"), "w") as f:
    f.writelines(json.dumps(a) + "\n" for a in actions)
PY
}
# Case 1: TABLES Delta tables x TABLE_FILES data files, each table one commit adding them
# all; t07 (the last table when there are fewer) realistic (8-64 KiB random), the others
# tiny.
target_table=db/t$(printf %02d $((tables > 7 ? 7 : tables - 1)))
src1=$work/wh
if [ "$(cat "$work/wh.done" 2>/dev/null)" != "$tables $table_files with adds" ]; then
  note "generating $src1"
  rm -rf "$src1"
  python3 - "$src1" "$target_table" "$tables" "$table_files" <<'PY'
import os, random, sys
root, target, tables, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(42)
pool = os.urandom(64 * 1024 + 4096)
for t in range(tables):
    table = os.path.join(root, "db", f"t{t:02}")
    data = os.path.join(table, "data")
    os.makedirs(data)
    big = f"db/t{t:02}" == target
    for i in range(files):
        with open(os.path.join(data, f"part-{i:05}.parquet"), "wb") as f:
            if big:
                f.write(os.urandom(rng.randint(8 * 1024, 64 * 1024)))
            else:
                n = rng.randint(200, 800)
                off = rng.randint(0, 4096)
                f.write(pool[off:off + n])
PY
  for table in "$src1"/db/t*; do delta_commit "$table" "${table##*/}"; done
  echo "$tables $table_files with adds" >"$work/wh.done"
fi
# packed anew each run, by the lakezip under test (the layout may change between builds)
note "packing a.zip"
"$lakezip" pack "$src1" -o "$www/a.zip" --force --quiet >/dev/null
# what a tar -cf or zip -0 -r user has instead: the same tree in one archive that holds no
# index, so getting one table means downloading all of it
note "packing a.tar (tar -cf) and a0.zip (zip -0 -r)"
tar -cf "$www/a.tar" -C "$src1" .
rm -f "$www/a0.zip"
(cd "$src1" && zip -0 -q -r "$www/a0.zip" .)

# Case 3: one Delta table of BIG_FILES x 16 MiB random files.
src3=$work/big
if [ "$(cat "$work/big.done" 2>/dev/null)" != "$big_files with adds" ]; then
  note "generating $src3 ($big_files × 16 MiB)"
  rm -rf "$src3"
  mkdir -p "$src3/db/big/data"
  for i in $(seq 0 $((big_files - 1))); do
    head -c 16M /dev/urandom >"$src3/db/big/data/part-$(printf %05d "$i").parquet"
  done
  delta_commit "$src3/db/big" big
  echo "$big_files with adds" >"$work/big.done"
fi
note "packing big.zip"
"$lakezip" pack "$src3" -o "$www/big.zip" --force --quiet >/dev/null
sync

# ---------------------------------------------------------------- servers
log=$tmp/access.log
start_nginx "$www" a.zip "$log" "$tmp/nginx"
direct=$nginx_url
start_proxy "$direct" "$delay_ms" a.zip
proxied=$proxy_url
# the same proxy with no delay: separates the proxy's own cost from the latency
start_proxy "$direct" 0 a.zip
proxied0=$proxy_url
# time of one small request through the proxy (sanity check of the delay)
probe_direct=$(curl -s -o /dev/null -r 0-0 -w '%{time_total}' "$direct/a.zip")
probe_proxied=$(curl -s -o /dev/null -r 0-0 -w '%{time_total}' "$proxied/a.zip")
# one GET of the whole big archive: the single-stream ceiling of nginx, and of the proxy
get_direct=$(curl -s -o /dev/null -w '%{time_total}' "$direct/big.zip")
get_proxied=$(curl -s -o /dev/null -w '%{time_total}' "$proxied/big.zip")

# ---------------------------------------------------------------- measuring

table_json() { # zip table -> one JSON line of ls --tables
  "$lakezip" ls "$www/$1" --tables --json | jq -c --arg t "$2" 'select(.type=="table" and .path==$t)'
}

# measure LABEL ZIP TABLE SRC_TREE CMD... (CMD extracts TABLE into $out_dir; ZIP is the
# lakezip archive whose table data_range splits requests into "before data" and "data",
# or - for a command that downloads a whole archive). Sets r_time r_times r_req r_meta
# r_data r_bytes r_largest r_ok r_stats r_steps r_small r_rss, and the runs as JSON arrays
# j_times j_reqs j_bytes j_rss.
measure() {
  local label=$1 zip=$2 table=$3 srctree=$4
  shift 4
  local tj dstart=0 dend=0 i before extra
  if [ "$zip" != - ]; then
    tj=$(table_json "$zip" "$table")
    dstart=$(jq '.data_range[0]' <<<"$tj")
    dend=$(jq '.data_range[1]' <<<"$tj")
  fi
  : >"$tmp/times"; : >"$tmp/reqs"; : >"$tmp/metas"; : >"$tmp/datas"; : >"$tmp/bytes"
  : >"$tmp/largest"; : >"$tmp/stats"; : >"$tmp/steps"; : >"$tmp/rss"
  r_ok=yes
  for i in $(seq "$runs"); do
    rm -rf "$out_dir" "$work/dl"
    mkdir -p "$out_dir" "$work/dl"
    sync # no writeback of the previous run's files during this one
    sleep 0.3 # let the previous run's log lines land
    before=$(wc -l <"$log")
    if ! timed "$tmp/rss1" "$tmp/time1" "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.err"; then
      note "FAILED: $label: $*"
      cat "$tmp/cmd.err" >&2
      r_ok="no (exit $(tail -c 300 "$tmp/cmd.err" | tr '\n' ' '))"
    fi
    log_since "$log" "$before" >"$tmp/run.log"
    cp "$tmp/run.log" "$work/logs/$(tr ' +' '_p' <<<"$label").log" # last run's requests
    cat "$tmp/time1" >>"$tmp/times"
    cat "$tmp/rss1" >>"$tmp/rss"
    read -r n m d b l sm st < <("$py" "$root/bench/access_log.py" "$tmp/run.log" "$dstart" "$dend")
    l=${l//_/ }
    r_small=$sm
    echo "$st" >>"$tmp/steps"
    echo "$n" >>"$tmp/reqs"; echo "$m" >>"$tmp/metas"; echo "$d" >>"$tmp/datas"
    echo "$b" >>"$tmp/bytes"; echo "$l" >>"$tmp/largest" # data request sizes
    if grep -q '"type":"summary"' "$tmp/cmd.out" 2>/dev/null; then
      jq -r 'select(.type=="summary") | "\(.stats.requests) \(.stats.bytes_read)"' \
        "$tmp/cmd.out" >>"$tmp/stats"
    fi
    # identical bytes, and nothing but the table
    if ! diff -r "$out_dir/$table" "$srctree/$table" >"$tmp/diff" 2>&1; then
      note "MISMATCH: $label run $i:"; head -5 "$tmp/diff" >&2
      r_ok="no (diff -r differs)"
    fi
    extra=$(cd "$out_dir" && { find . -type f | grep -v "^\./$table/" | head -3 || true; })
    if [ -n "$extra" ]; then
      note "EXTRA FILES: $label: $extra"
      r_ok="no (extra files)"
    fi
    note "  $label run $i: $(tail -1 "$tmp/times") s, $n requests ($m meta + $d data), $b bytes, peak RSS $(tail -1 "$tmp/rss") KiB"
  done
  rm -rf "$out_dir" "$work/dl"
  r_time=$(median <"$tmp/times")
  r_times=$(sort -n "$tmp/times" | tr '\n' ' ' | sed 's/ $//')
  r_req=$(range_of <"$tmp/reqs")
  r_meta=$(range_of <"$tmp/metas")
  r_data=$(range_of <"$tmp/datas")
  if [ "$zip" = - ]; then r_meta=-; r_data=-; fi
  r_bytes=$(range_of <"$tmp/bytes")
  r_steps=$(range_of <"$tmp/steps")
  r_largest=$(sort -u "$tmp/largest" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  r_stats=$(sort -u "$tmp/stats" | tr '\n' ';' | sed 's/;$//')
  r_rss=$(sort -n "$tmp/rss" | tail -1)
  j_times=$(json_array <"$tmp/times")
  j_reqs=$(json_array <"$tmp/reqs")
  j_bytes=$(json_array <"$tmp/bytes")
  j_rss=$(json_array <"$tmp/rss")
}

# rec SECTION TOOL ROUTE [key=value | key:=json]...: the last measure as one JSON line
rec() {
  local section=$1 tool=$2 route=$3
  shift 3
  jrec "$jsonl" type=row section:="$section" tool="$tool" route="$route" \
    requests="$r_req" before_data="$r_meta" data="$r_data" steps="$r_steps" \
    median_s:="$r_time" times_s:="$j_times" requests_runs:="$j_reqs" bytes_runs:="$j_bytes" \
    peak_rss_kib:="$r_rss" peak_rss_kib_runs:="$j_rss" identical="$r_ok" "$@"
}

# The whole-archive users: one GET of the archive, then their own tool takes the table out.
# zip: unzip needs a seekable file, so the archive is downloaded first; tar streams.
zip_user() { # url table dir
  curl -sf -o "$work/dl/a0.zip" "$1" && unzip -q "$work/dl/a0.zip" "$2/*" -d "$3"
}
tar_user() { # url table dir
  set -o pipefail
  curl -sf "$1" | tar -xf - -C "$3" "./$2"
}
export -f zip_user tar_user
export work

mib() { echo "scale=1; $1 / 1024" | bc | sed 's/^\./0./'; }
row() { # tool
  md "| $1 | $r_req | $r_meta | $r_data | $r_steps | $r_bytes | $r_largest | $r_time ($r_times) | $(mib "$r_rss") | $r_ok |"
}
header() {
  md "| tool | requests | before data | data | sequential steps | bytes sent | data request sizes (bytes sent) | median s (all runs) | peak RSS MiB | identical |"
  md "|---|---|---|---|---|---|---|---|---|---|"
}

# ---------------------------------------------------------------- report
a_bytes=$(stat -c %s "$www/a.zip")
a_tar_bytes=$(stat -c %s "$www/a.tar")
a_zip0_bytes=$(stat -c %s "$www/a0.zip")
a_entries=$("$lakezip" info "$www/a.zip" --json | jq -s '[.[] | select(.type=="archive")][0].entries')
t_json=$(table_json a.zip "$target_table")
t_files=$(jq '.files' <<<"$t_json")
t_bytes=$(jq '.bytes' <<<"$t_json")
b_bytes=$(stat -c %s "$www/big.zip")
b_json=$(table_json big.zip db/big)
b_table_bytes=$(jq .bytes <<<"$b_json")
b_mib=$((b_table_bytes / 1048576))
remotezip_version=$("$py" -c 'import importlib.metadata as m; print(m.version("remotezip"))')
jrec "$jsonl" type=info tables:="$tables" table_files:="$table_files" archive_entries:="$a_entries" \
  archive_bytes:="$a_bytes" tar_bytes:="$a_tar_bytes" zip0_bytes:="$a_zip0_bytes" \
  table="$target_table" table_files_extracted:="$t_files" table_bytes:="$t_bytes" \
  big_archive_bytes:="$b_bytes" big_table_bytes:="$b_table_bytes" big_files:="$big_files" \
  delay_ms:="$delay_ms" runs:="$runs" remotezip="$remotezip_version" \
  nginx="$("$nginx_bin" -v 2>&1 | sed 's/.*: //')" curl="$(curl --version | head -1 | cut -d' ' -f1-2)" \
  unzip="$(unzip -v | head -1 | cut -d' ' -f1-2)" tar="$(tar --version | head -1)" \
  python="$("$py" --version)"

md "# Remote extraction over HTTP: lakezip vs remotezip vs downloading the whole archive"
md ""
md "Command: \`$cmdline\` (from the repository root; builds \`target/release/lakezip\`)."
md ""
machine_md "$work" | while IFS= read -r line; do md "$line"; done
md "- load average (1/5/15 min) at start: $(loadavg)"
md "- server: $("$nginx_bin" -v 2>&1 | sed 's/.*: //') on 127.0.0.1 (sendfile, keep-alive), page cache warm;"
md "  remotezip $remotezip_version on $("$py" --version); $(curl --version | head -1 | cut -d' ' -f1-2),"
md "  $(unzip -v | head -1 | cut -d' ' -f1-2), $(tar --version | head -1)"
md "- requests and bytes: nginx access log (\`\$request_time \$status \$body_bytes_sent \$http_range\`), for every tool;"
md "  *before data* = requests outside the table's \`data_range\` (end records, index, central"
md "  directory), *data* = requests inside it. *Sequential steps*: requests that began when no"
md "  other request was in flight (from \`\$msec − \$request_time\`): each one costs a full round"
md "  trip that nothing overlaps, so latency adds about steps × RTT. Time: wall clock of the"
md "  whole command, median of $runs runs. Peak RSS: GNU time's %M, the largest of the runs"
md "  (for the whole-archive rows: the largest of bash, curl and unzip or tar)."
md "- whole-archive rows: what a \`tar -cf\` or \`zip -0 -r\` user does to get one table from"
md "  their archive of the same tree on the same server: \`curl -o a0.zip URL && unzip a0.zip"
md "  'TABLE/*'\` (unzip needs a seekable file), or \`curl URL | tar -x ./TABLE\` (streamed)."
md "- proxy: bench/latency_proxy.py delays every client→server chunk by $delay_ms ms (so each request"
md "  costs one extra ${delay_ms} ms before the server sees it; connection setup is not delayed)."
md "  One 1-byte request: ${probe_direct} s direct, ${probe_proxied} s through the proxy."
md ""

# --- 1
md "## 1. One table of $t_files files out of a $a_entries-entry archive (direct loopback)"
md ""
md "Archive a.zip: $a_bytes bytes, $tables Delta tables × $((table_files + 1)) files; table \`$target_table\`: $t_files files,"
md "$t_bytes bytes (8–64 KiB random each); the other tables' files are 200–800 bytes. The same"
md "tree as a.tar (tar -cf): $a_tar_bytes bytes; as a0.zip (zip -0 -r): $a_zip0_bytes bytes."
md ""
load_before=$(load1)
header
before=$(wc -l <"$log")
"$lakezip" ls "$direct/a.zip" --tables --json >/dev/null
ls_reqs=$(log_since "$log" "$before" | wc -l)
ls_bytes=$(tail -n "$ls_reqs" "$log" | awk '{s+=$3} END {print s+0}')
jrec "$jsonl" type=ls_tables route=direct requests:="$ls_reqs" bytes:="$ls_bytes"
measure "lakezip direct" a.zip "$target_table" "$src1" \
  "$lakezip" extract "$direct/a.zip" "$target_table" -C "$out_dir" --stats --json
row lakezip
rec 1 lakezip direct archive_bytes:="$a_bytes"
lz_stats1=$r_stats
lz_t=$r_time
measure "remotezip direct" a.zip "$target_table" "$src1" \
  "$py" "$root/bench/remotezip_extract.py" "$direct/a.zip" "$target_table" "$out_dir"
row remotezip
rec 1 remotezip direct archive_bytes:="$a_bytes"
rz_t=$r_time
measure "zip user direct" - "$target_table" "$src1" \
  bash -c 'zip_user "$@"' _ "$direct/a0.zip" "$target_table" "$out_dir"
row "zip -0 -r archive: curl + unzip"
rec 1 "zip -0 -r + unzip" direct archive_bytes:="$a_zip0_bytes"
measure "tar user direct" - "$target_table" "$src1" \
  bash -c 'tar_user "$@"' _ "$direct/a.tar" "$target_table" "$out_dir"
row "tar -cf archive: curl \| tar -x"
rec 1 "tar -cf + tar -x" direct archive_bytes:="$a_tar_bytes"
measure "lakezip local" a.zip "$target_table" "$src1" \
  "$lakezip" extract "$www/a.zip" "$target_table" -C "$out_dir" --json
row "lakezip, local a.zip (reference, no HTTP)"
rec 1 lakezip local archive_bytes:="$a_bytes"
md ""
md "lakezip is $(echo "scale=1; $rz_t / $lz_t" | bc)× faster than remotezip here. The last row extracts the same"
md "table from the archive on local disk into the same directory: most of lakezip's time is"
md "creating the $t_files files, which on this VM's ext4 (mounted with \`discard\`) varies between"
md "runs and directories."
md "\`lakezip ls URL --tables\`: $ls_reqs requests, $ls_bytes bytes. lakezip's own"
md "\`--stats\` (requests bytes_read): $lz_stats1. Load average (1 min) before/after: $load_before / $(load1)."
load_note "$load_before"
md ""

# --- 2
md "## 2. The same through the latency proxy"
md ""
md "Rows *proxy +0 ms* go through the same proxy without delay: the difference between them and"
md "the +${delay_ms} ms rows is the latency alone (the proxy itself is one Python process copying"
md "every byte on the same $(nproc) cores)."
md ""
load_before=$(load1)
md "| tool | path | requests | before data | data | sequential steps | bytes sent | data request sizes (bytes sent) | median s (all runs) | peak RSS MiB | identical |"
md "|---|---|---|---|---|---|---|---|---|---|---|"
before=$(wc -l <"$log")
"$lakezip" ls "$proxied/a.zip" --tables --json >/dev/null
ls_reqs=$(log_since "$log" "$before" | wc -l)
jrec "$jsonl" type=ls_tables route="proxy +${delay_ms} ms" requests:="$ls_reqs"
declare -A t2
for tool in lakezip remotezip "zip -0 -r + unzip" "tar -cf + tar -x"; do
  for route in "proxy +0 ms:$proxied0" "proxy +${delay_ms} ms:$proxied"; do
    name=${route%%:http*}
    url=${route#"$name":}
    case $tool in
      lakezip)
        measure "lakezip $name" a.zip "$target_table" "$src1" \
          "$lakezip" extract "$url/a.zip" "$target_table" -C "$out_dir" --stats --json
        lz_stats2=$r_stats
        lz_t=$r_time
        size=$a_bytes ;;
      remotezip)
        measure "remotezip $name" a.zip "$target_table" "$src1" \
          "$py" "$root/bench/remotezip_extract.py" "$url/a.zip" "$target_table" "$out_dir"
        size=$a_bytes ;;
      zip*)
        measure "zip user $name" - "$target_table" "$src1" \
          bash -c 'zip_user "$@"' _ "$url/a0.zip" "$target_table" "$out_dir"
        size=$a_zip0_bytes ;;
      tar*)
        measure "tar user $name" - "$target_table" "$src1" \
          bash -c 'tar_user "$@"' _ "$url/a.tar" "$target_table" "$out_dir"
        size=$a_tar_bytes ;;
    esac
    t2["$tool $name"]=$r_time
    rec 2 "$tool" "$name" archive_bytes:="$size"
    md "| $tool | $name | $r_req | $r_meta | $r_data | $r_steps | $r_bytes | $r_largest | $r_time ($r_times) | $(mib "$r_rss") | $r_ok |"
  done
done
rz_t=${t2["remotezip proxy +${delay_ms} ms"]}
lat() { printf '%.3f' "$(echo "${t2["$1 proxy +${delay_ms} ms"]} - ${t2["$1 proxy +0 ms"]}" | bc)"; }
md ""
md "At +${delay_ms} ms lakezip is $(echo "scale=1; $rz_t / $lz_t" | bc)× faster than remotezip. Cost of the latency"
md "(+${delay_ms} ms row − +0 ms row): lakezip $(lat lakezip) s, remotezip $(lat remotezip) s,"
md "whole archive with unzip $(lat "zip -0 -r + unzip") s, with tar $(lat "tar -cf + tar -x") s (lakezip's and the"
md "whole-archive rows' differences are within the run-to-run noise of creating the files, see section 1)."
md "lakezip reads the end records, the index and the table's central directory slice one after"
md "another, then the data in parallel requests; remotezip reads the end, the whole central"
md "directory, then one request per member, one after another (see *sequential steps*; each"
md "case's last run is in target/bench-remote/logs with \`\$msec\`). remotezip opens a new"
md "connection per request (\`RemoteZip(url)\` without a session); the proxy charges no round trip"
md "for that, which favours it. The whole-archive rows pay one round trip but move every byte"
md "of the archive through the proxy."
md "\`lakezip ls URL --tables\` through the proxy: $ls_reqs requests. lakezip \`--stats\`: $lz_stats2."
md "Load average (1 min) before/after: $load_before / $(load1)."
load_note "$load_before"
md ""

# --- 3
md "## 3. One $b_mib MiB table: parallel vs single stream"
md ""
md "Archive big.zip: $b_bytes bytes, one Delta table \`db/big\` of $(jq .files <<<"$b_json") files"
md "($b_table_bytes bytes: $big_files × 16 MiB random + a commit file). Loopback bandwidth is"
md "high, so the difference between 1 and 8 streams comes mostly from per-request latency"
md "(through the proxy each request waits $delay_ms ms before the server sees it), not from"
md "bandwidth; *proxy +0 ms* and *direct* rows are for reference. Every run writes and checks"
md "$b_mib MiB on local disk."
md ""
load_before=$(load1)
md "| path | --concurrency | requests | before data | data | sequential steps | bytes sent | data request sizes (bytes sent) | median s (all runs) | MB/s | peak RSS MiB | identical |"
md "|---|---|---|---|---|---|---|---|---|---|---|---|"
declare -A t3
for route in "proxy +${delay_ms} ms:$proxied" "proxy +0 ms:$proxied0" "direct:$direct"; do
  name=${route%%:http*}
  url=${route#"$name":}
  for c in 1 8; do
    measure "big $name c$c" big.zip db/big "$src3" \
      "$lakezip" extract "$url/big.zip" db/big -C "$out_dir" --concurrency "$c" --stats --json
    mbs=$(echo "scale=0; $b_table_bytes / $r_time / 1000000" | bc)
    t3["$name $c"]=$r_time
    if [ "$c" = 1 ] && [ "$name" = "proxy +${delay_ms} ms" ]; then
      data_reqs=$r_data
      small_reqs=$r_small
    fi
    rec 3 lakezip "$name" concurrency:="$c" mb_s:="$mbs" archive_bytes:="$b_bytes"
    md "| $name | $c | $r_req | $r_meta | $r_data | $r_steps | $r_bytes | $r_largest | $r_time ($r_times) | $mbs | $(mib "$r_rss") | $r_ok |"
  done
done
md ""
md "Load average (1 min) before/after: $load_before / $(load1)."
load_note "$load_before"
md ""
md "For scale: one plain GET of the whole big.zip with curl (one stream, to /dev/null) takes"
md "$get_direct s direct and $get_proxied s through the proxy (the proxy is one Python process, so"
md "it also caps throughput). With --concurrency 1 the $data_reqs data requests ($small_reqs of them under"
md "4 KiB) wait $delay_ms ms each in series: $(echo "scale=2; $data_reqs * $delay_ms / 1000" | bc) s of latency alone. Measured cost of the"
lat3() { printf '%.3f' "$(echo "${t3["proxy +${delay_ms} ms $1"]} - ${t3["proxy +0 ms $1"]}" | bc)"; }
md "latency (+${delay_ms} ms row − +0 ms row): $(lat3 1) s with --concurrency 1, $(lat3 8) s with --concurrency 8."
md "With --concurrency 8 the *sequential steps* are counted at the server: a reply nginx has"
md "finished sending can still be in the proxy's buffers, so not every step is idle time at lakezip."

mv "$report" "$results/remote.md"
mv "$jsonl" "$results/remote.jsonl"
note "written $results/remote.md and $results/remote.jsonl"
