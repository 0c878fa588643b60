#!/usr/bin/env bash
# Remote extraction over loopback HTTP (nginx), lakezip vs remotezip, in the same run:
#   1. one ~1,000-file table out of a ~52,500-entry archive, direct;
#   2. the same through a proxy adding DELAY_MS (default 20) to every request (and 0 ms);
#   3. one ~1 GiB table through the proxy, lakezip --concurrency 1 vs 8 (also 0 ms, direct).
# Requests and bytes are counted from nginx's access log (the same way for both tools);
# wall time is the median of RUNS (default 3) runs; every extraction is checked with
# diff -r against the source tree. Prints markdown and writes it to
# bench/results/remote.md.
#   bench/remote.sh            (data kept under target/bench-remote and reused, ~2.2 GB;
#                               CLEAN=1 removes it at the end; peak disk ~3.3 GB; the
#                               access log of each case's last run: target/bench-remote/logs)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cmdline="bench/remote.sh${*:+ $*}"
for v in RUNS DELAY_MS CLEAN; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done
runs=${RUNS:-3}
delay_ms=${DELAY_MS:-20}
work=$root/target/bench-remote
www=$work/www
out=$root/bench/results/remote.md

mkdir -p "$work" "$www" "$root/bench/results"
# one run at a time: concurrent runs would share the data and skew each other's times
exec 9>"$work/.lock"
if ! flock -n 9; then
  echo >&2 "another bench/remote.sh is running; waiting for it"
  flock 9
fi

cargo build --release --quiet -p archive-cli
lakezip=$root/target/release/lakezip
py=$root/.venv/bin/python
[ -x "$py" ] || py=python3
"$py" -c 'import remotezip' 2>/dev/null || "$py" -m pip install --quiet remotezip
nginx_bin=/usr/sbin/nginx
[ -x "$nginx_bin" ] || nginx_bin=$(command -v nginx)

rm -rf "$work/logs" "$work"/out.*
mkdir -p "$work/logs"
tmp=$(mktemp -d /tmp/lakezip-bench-remote.XXXXXX)
out_dir=$(mktemp -d "$work/out.XXXXXX") # extraction target, emptied before each run
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp" "$out_dir"
  if [ "${CLEAN:-0}" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

report=$tmp/report.md
md() { printf '%s\n' "$*" | tee -a "$report"; }
note() { printf '%s\n' "$*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }
load_note() { # warn when something else was using the CPUs
  if [ "$(echo "$(load1) > $(nproc)" | bc)" = 1 ] || [ "$(echo "$1 > $(nproc)" | bc)" = 1 ]; then
    md ""
    md "**Note: load average above $(nproc) (other processes running) — times are less reliable.**"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { # url
  local i
  for i in $(seq 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  note "no answer from $1"
  return 1
}

# ---------------------------------------------------------------- data
# Case 1: 50 Delta tables x 1,050 data files; t07 realistic (8-64 KiB random), others tiny.
target_table=db/t07
src1=$work/wh
if [ ! -f "$work/wh.done" ]; then
  note "generating $src1"
  rm -rf "$src1"
  python3 - "$src1" "$target_table" <<'PY'
import os, random, sys
root, target = sys.argv[1], sys.argv[2]
rng = random.Random(42)
pool = os.urandom(64 * 1024 + 4096)
for t in range(50):
    table = os.path.join(root, "db", f"t{t:02}")
    data = os.path.join(table, "data")
    os.makedirs(data)
    os.makedirs(os.path.join(table, "_delta_log"))
    big = f"db/t{t:02}" == target
    for i in range(1050):
        with open(os.path.join(data, f"part-{i:05}.parquet"), "wb") as f:
            if big:
                f.write(os.urandom(rng.randint(8 * 1024, 64 * 1024)))
            else:
                n = rng.randint(200, 800)
                off = rng.randint(0, 4096)
                f.write(pool[off:off + n])
    with open(os.path.join(table, "_delta_log", "00000000000000000000.json"), "w") as f:
        f.write('{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}\n')
        f.write('{"metaData":{"id":"t%02d","format":{"provider":"parquet","options":{}},'
                '"schemaString":"{}","partitionColumns":[],"configuration":{}}}\n' % t)
PY
  touch "$work/wh.done"
fi
# packed anew each run, by the lakezip under test (the layout may change between builds)
note "packing a.zip"
"$lakezip" pack "$src1" -o "$www/a.zip" --force --quiet >/dev/null

# Case 3: one Delta table of 64 x 16 MiB random files.
src3=$work/big
if [ ! -f "$work/big.done" ]; then
  note "generating $src3 (1 GiB)"
  rm -rf "$src3"
  mkdir -p "$src3/db/big/data" "$src3/db/big/_delta_log"
  for i in $(seq -w 0 63); do
    head -c 16M /dev/urandom >"$src3/db/big/data/part-000$i.parquet"
  done
  echo '{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}' \
    >"$src3/db/big/_delta_log/00000000000000000000.json"
  touch "$work/big.done"
fi
note "packing big.zip"
"$lakezip" pack "$src3" -o "$www/big.zip" --force --quiet >/dev/null
sync

# ---------------------------------------------------------------- servers
log=$tmp/access.log
port=$(free_port)
mkdir -p "$tmp/nginx"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root root;"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
daemon off;
master_process off;
worker_processes 1;
pid "$tmp/nginx/nginx.pid";
error_log "$tmp/nginx/error.log" warn;
events { worker_connections 1024; }
http {
    log_format bench '\$request_time \$status \$body_bytes_sent "\$http_range" \$request_method \$connection \$connection_requests \$msec';
    access_log "$log" bench;
    client_body_temp_path "$tmp/nginx/client_body";
    proxy_temp_path "$tmp/nginx/proxy";
    fastcgi_temp_path "$tmp/nginx/fastcgi";
    uwsgi_temp_path "$tmp/nginx/uwsgi";
    scgi_temp_path "$tmp/nginx/scgi";
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$port;
        root "$www";
    }
}
EOF
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
  2>"$tmp/nginx/stderr" &
pids+=($!)
direct=http://127.0.0.1:$port
wait_http "$direct/a.zip"

pport=$(free_port)
"$py" "$root/bench/latency_proxy.py" "$pport" "127.0.0.1:$port" "$delay_ms" >"$tmp/proxy.out" &
pids+=($!)
proxied=http://127.0.0.1:$pport
wait_http "$proxied/a.zip"
# the same proxy with no delay: separates the proxy's own cost from the latency
pport0=$(free_port)
"$py" "$root/bench/latency_proxy.py" "$pport0" "127.0.0.1:$port" 0 >"$tmp/proxy0.out" &
pids+=($!)
proxied0=http://127.0.0.1:$pport0
wait_http "$proxied0/a.zip"
# time of one small request through the proxy (sanity check of the delay)
probe_direct=$(curl -s -o /dev/null -r 0-0 -w '%{time_total}' "$direct/a.zip")
probe_proxied=$(curl -s -o /dev/null -r 0-0 -w '%{time_total}' "$proxied/a.zip")
# one GET of the whole 1 GiB archive: the single-stream ceiling of nginx, and of the proxy
get_direct=$(curl -s -o /dev/null -w '%{time_total}' "$direct/big.zip")
get_proxied=$(curl -s -o /dev/null -w '%{time_total}' "$proxied/big.zip")

# ---------------------------------------------------------------- measuring
cat >"$tmp/analyze.py" <<'PY'
# analyze.py LOG DATA_START DATA_END
#   -> "requests meta data bytes sizes small steps" (sizes: the data requests' sizes, no
#      spaces; small: data requests under 4 KiB; steps: see below)
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
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range_of() { sort -n | uniq | awk 'NR==1{a=$1} {b=$1} END {print (a==b) ? a : a "–" b}'; }

table_json() { # zip table -> one JSON line of ls --tables
  "$lakezip" ls "$www/$1" --tables --json | jq -c --arg t "$2" 'select(.type=="table" and .path==$t)'
}

# measure LABEL ZIP TABLE SRC_TREE CMD... (CMD extracts into $out_dir)
# sets: r_time r_req r_meta r_data r_bytes r_largest r_ok r_stats
measure() {
  local label=$1 zip=$2 table=$3 srctree=$4
  shift 4
  local tj dstart dend i before start end
  tj=$(table_json "$zip" "$table")
  dstart=$(jq '.data_range[0]' <<<"$tj")
  dend=$(jq '.data_range[1]' <<<"$tj")
  : >"$tmp/times"; : >"$tmp/reqs"; : >"$tmp/metas"; : >"$tmp/datas"; : >"$tmp/bytes"
  : >"$tmp/largest"; : >"$tmp/stats"; : >"$tmp/steps"
  r_ok=yes
  for i in $(seq "$runs"); do
    rm -rf "$out_dir"
    mkdir -p "$out_dir"
    sync # no writeback of the previous run's files during this one
    sleep 0.3 # let the previous run's log lines land
    before=$(wc -l <"$log")
    start=$(date +%s.%N)
    if ! "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.err"; then
      note "FAILED: $label: $*"
      cat "$tmp/cmd.err" >&2
      r_ok="no (exit $(tail -c 300 "$tmp/cmd.err" | tr '\n' ' '))"
    fi
    end=$(date +%s.%N)
    sleep 0.3
    tail -n +$((before + 1)) "$log" >"$tmp/run.log"
    cp "$tmp/run.log" "$work/logs/$(tr ' +' '_p' <<<"$label").log" # last run's requests
    echo "$end - $start" | bc | awk '{printf "%.3f\n", $1}' >>"$tmp/times"
    read -r n m d b l sm st < <("$py" "$tmp/analyze.py" "$tmp/run.log" "$dstart" "$dend")
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
    local extra
    extra=$(cd "$out_dir" && find . -type f | grep -v "^\./$table/" | head -3 || true)
    if [ -n "$extra" ]; then
      note "EXTRA FILES: $label: $extra"
      r_ok="no (extra files)"
    fi
    note "  $label run $i: $(tail -1 "$tmp/times") s, $n requests ($m meta + $d data), $b bytes"
  done
  rm -rf "$out_dir"
  r_time=$(median <"$tmp/times")
  r_times=$(sort -n "$tmp/times" | tr '\n' ' ' | sed 's/ $//')
  r_req=$(range_of <"$tmp/reqs")
  r_meta=$(range_of <"$tmp/metas")
  r_data=$(range_of <"$tmp/datas")
  r_bytes=$(range_of <"$tmp/bytes")
  r_steps=$(range_of <"$tmp/steps")
  r_largest=$(sort -u "$tmp/largest" | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  r_stats=$(sort -u "$tmp/stats" | tr '\n' ';' | sed 's/;$//')
}

row() { # tool
  md "| $1 | $r_req | $r_meta | $r_data | $r_steps | $r_bytes | $r_largest | $r_time ($r_times) | $r_ok |"
}
header() {
  md "| tool | requests | before data | data | sequential steps | bytes sent | data request sizes (bytes sent) | median s (all runs) | identical |"
  md "|---|---|---|---|---|---|---|---|---|"
}

# ---------------------------------------------------------------- report
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain 2>/dev/null)" ] && git_rev="$git_rev + uncommitted changes"
a_bytes=$(stat -c %s "$www/a.zip")
a_entries=$("$lakezip" info "$www/a.zip" --json | jq -s '[.[] | select(.type=="archive")][0].entries')
t_json=$(table_json a.zip "$target_table")
t_files=$(jq '.files' <<<"$t_json")
t_bytes=$(jq '.bytes' <<<"$t_json")
b_bytes=$(stat -c %s "$www/big.zip")
b_json=$(table_json big.zip db/big)

md "# Remote extraction over HTTP: lakezip vs remotezip"
md ""
md "Command: \`$cmdline\` (from the repository root; builds \`target/release/lakezip\`)."
md ""
md "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), lakezip $git_rev ($("$lakezip" --version))"
md "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
md "  $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
md "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
md "- server: $("$nginx_bin" -v 2>&1 | sed 's/.*: //') on 127.0.0.1 (sendfile, keep-alive), page cache warm;"
md "  remotezip $("$py" -c 'import importlib.metadata as m; print(m.version("remotezip"))') on $("$py" --version)"
md "- requests and bytes: nginx access log (\`\$request_time \$status \$body_bytes_sent \$http_range\`), for both tools;"
md "  *before data* = requests outside the table's \`data_range\` (end records, index, central"
md "  directory), *data* = requests inside it. *Sequential steps*: requests that began when no"
md "  other request was in flight (from \`\$msec − \$request_time\`): each one costs a full round"
md "  trip that nothing overlaps, so latency adds about steps × RTT. Time: wall clock of the"
md "  whole command, median of $runs runs."
md "- proxy: bench/latency_proxy.py delays every client→server chunk by $delay_ms ms (so each request"
md "  costs one extra ${delay_ms} ms before the server sees it; connection setup is not delayed)."
md "  One 1-byte request: ${probe_direct} s direct, ${probe_proxied} s through the proxy."
md ""

# --- 1
md "## 1. One table of $t_files files out of a $a_entries-entry archive (direct loopback)"
md ""
md "Archive a.zip: $a_bytes bytes, 50 Delta tables × 1,051 files; table \`$target_table\`: $t_files files,"
md "$t_bytes bytes (8–64 KiB random each); the other tables' files are 200–800 bytes."
md ""
load_before=$(load1)
header
before=$(wc -l <"$log")
"$lakezip" ls "$direct/a.zip" --tables --json >/dev/null
sleep 0.3
ls_reqs=$(($(wc -l <"$log") - before))
ls_bytes=$(tail -n "$ls_reqs" "$log" | awk '{s+=$3} END {print s+0}')
measure "lakezip direct" a.zip "$target_table" "$src1" \
  "$lakezip" extract "$direct/a.zip" "$target_table" -C "$out_dir" --stats --json
row lakezip
lz_stats1=$r_stats
lz_t=$r_time
measure "remotezip direct" a.zip "$target_table" "$src1" \
  "$py" "$root/bench/remotezip_extract.py" "$direct/a.zip" "$target_table" "$out_dir"
row remotezip
rz_t=$r_time
measure "lakezip local" a.zip "$target_table" "$src1" \
  "$lakezip" extract "$www/a.zip" "$target_table" -C "$out_dir" --json
row "lakezip, local a.zip (reference, no HTTP)"
md ""
md "lakezip is $(echo "scale=1; $rz_t / $lz_t" | bc)× faster than remotezip here. The last row extracts the same"
md "table from the archive on local disk into the same directory: most of lakezip's time is"
md "creating the 1,051 files, which on this VM's ext4 (mounted with \`discard\`) varies between"
md "runs and directories (0.05–0.35 s seen)."
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
md "| tool | path | requests | before data | data | sequential steps | bytes sent | data request sizes (bytes sent) | median s (all runs) | identical |"
md "|---|---|---|---|---|---|---|---|---|---|"
before=$(wc -l <"$log")
"$lakezip" ls "$proxied/a.zip" --tables --json >/dev/null
sleep 0.3
ls_reqs=$(($(wc -l <"$log") - before))
declare -A t2
for tool in lakezip remotezip; do
  for route in "proxy +0 ms:$proxied0" "proxy +${delay_ms} ms:$proxied"; do
    name=${route%%:http*}
    url=${route#"$name":}
    if [ $tool = lakezip ]; then
      measure "lakezip $name" a.zip "$target_table" "$src1" \
        "$lakezip" extract "$url/a.zip" "$target_table" -C "$out_dir" --stats --json
      lz_stats2=$r_stats
      lz_t=$r_time
    else
      measure "remotezip $name" a.zip "$target_table" "$src1" \
        "$py" "$root/bench/remotezip_extract.py" "$url/a.zip" "$target_table" "$out_dir"
    fi
    t2["$tool $name"]=$r_time
    md "| $tool | $name | $r_req | $r_meta | $r_data | $r_steps | $r_bytes | $r_largest | $r_time ($r_times) | $r_ok |"
  done
done
md ""
md "At +${delay_ms} ms lakezip is $(echo "scale=1; $r_time / $lz_t" | bc)× faster than remotezip. Cost of the latency"
md "(+${delay_ms} ms row − +0 ms row): lakezip $(printf '%.3f' "$(echo "${t2["lakezip proxy +${delay_ms} ms"]} - ${t2["lakezip proxy +0 ms"]}" | bc)") s,"
md "remotezip $(printf '%.3f' "$(echo "${t2["remotezip proxy +${delay_ms} ms"]} - ${t2["remotezip proxy +0 ms"]}" | bc)") s (lakezip's difference is within the run-to-run noise of"
md "creating the files, see section 1)."
md "lakezip reads the end records, the index and the table's central directory slice one after"
md "another, then the data in parallel requests; remotezip reads the end, the whole central"
md "directory, then one request per member, one after another (see *sequential steps*; each"
md "case's last run is in target/bench-remote/logs with \`\$msec\`). remotezip opens a new"
md "connection per request (\`RemoteZip(url)\` without a session); the proxy charges no round trip"
md "for that, which favours it."
md "\`lakezip ls URL --tables\` through the proxy: $ls_reqs requests. lakezip \`--stats\`: $lz_stats2."
md "Load average (1 min) before/after: $load_before / $(load1)."
load_note "$load_before"
md ""

# --- 3
md "## 3. One 1 GiB table: parallel vs single stream"
md ""
md "Archive big.zip: $b_bytes bytes, one Delta table \`db/big\` of $(jq .files <<<"$b_json") files"
md "($(jq .bytes <<<"$b_json") bytes: 64 × 16 MiB random + a commit file). Loopback bandwidth is"
md "high, so the difference between 1 and 8 streams comes mostly from per-request latency"
md "(through the proxy each request waits $delay_ms ms before the server sees it), not from"
md "bandwidth; *proxy +0 ms* and *direct* rows are for reference. Every run writes and checks"
md "1 GiB on local disk."
md ""
load_before=$(load1)
md "| path | --concurrency | requests | before data | data | sequential steps | bytes sent | data request sizes (bytes sent) | median s (all runs) | MB/s | identical |"
md "|---|---|---|---|---|---|---|---|---|---|---|"
declare -A t3
for route in "proxy +${delay_ms} ms:$proxied" "proxy +0 ms:$proxied0" "direct:$direct"; do
  name=${route%%:http*}
  url=${route#"$name":}
  for c in 1 8; do
    measure "big $name c$c" big.zip db/big "$src3" \
      "$lakezip" extract "$url/big.zip" db/big -C "$out_dir" --concurrency "$c" --stats --json
    mbs=$(echo "scale=0; $(jq .bytes <<<"$b_json") / $r_time / 1000000" | bc)
    t3["$name $c"]=$r_time
    if [ "$c" = 1 ] && [ "$name" = "proxy +${delay_ms} ms" ]; then
      data_reqs=$r_data
      small_reqs=$r_small
    fi
    md "| $name | $c | $r_req | $r_meta | $r_data | $r_steps | $r_bytes | $r_largest | $r_time ($r_times) | $mbs | $r_ok |"
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
lat() { printf '%.3f' "$(echo "${t3["proxy +${delay_ms} ms $1"]} - ${t3["proxy +0 ms $1"]}" | bc)"; }
md "latency (+${delay_ms} ms row − +0 ms row): $(lat 1) s with --concurrency 1, $(lat 8) s with --concurrency 8."
md "With --concurrency 8 the *sequential steps* are counted at the server: a reply nginx has"
md "finished sending can still be in the proxy's buffers, so not every step is idle time at lakezip."

mv "$report" "$out"
note "written $out"
