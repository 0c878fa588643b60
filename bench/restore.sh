#!/usr/bin/env bash
# Restore bytes over HTTP: restoring one point of a nightly chain (a full archive, then one
# incremental a night) from nginx with `lakezip restore CHAIN_URL --at ID`, against what a
# `tar` user downloads (GNU tar --listed-incremental: the level-0 archive and every night's
# incremental up to that point, extracted in order) and what anyone holding the chain's
# archives as plain ZIP files downloads (all of them up to that point).
# Two warehouses, packed after every night with the same command (pack --chain) and tar -g:
#   evolve  testdata/evolve.py, the chain tests' warehouse: Iceberg and Delta tables written
#           by pyiceberg and deltalake (appends, overwrites, deletes, schema changes,
#           checkpoints, vacuum, snapshot expiry); about 0.5 MB
#   sales   bench/chain_warehouse.py: a CHAIN_MB (default 512) MiB Delta fact table written
#           by deltalake: every night a day appended and yesterday compacted, a third of
#           the table rewritten on night 4, vacuum
# Every point is restored by both tools (median of RUNS runs, default 3; requests and bytes
# from nginx's access log; peak RSS from GNU time's %M) and checked against the SHA-1 of
# every file of the warehouse taken at that point; the newest point also through bench/latency_proxy.py
# (+DELAY_MS, default 20). Prints markdown and writes $RESULTS/restore.md (default
# bench/results), with one JSON line per row in $RESULTS/restore.jsonl (read by bench/run).
#   bench/restore.sh    (data under target/bench-restore, made anew each run and kept for
#                        inspection; CLEAN=1 removes it at the end; peak disk ~5 × CHAIN_MB)
#   CHAINS="evolve sales"   the warehouses to run (a missing Python package skips one)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
cmdline="bench/restore.sh${*:+ $*}"
for v in RUNS DELAY_MS CHAIN_MB CHAINS RESULTS CLEAN; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done
runs=${RUNS:-3}
delay_ms=${DELAY_MS:-20}
chain_mb=${CHAIN_MB:-512}
chains=${CHAINS:-evolve sales}
work=$root/target/bench-restore
results=${RESULTS:-$root/bench/results}
need_tools /usr/bin/time jq bc curl flock tar python3

mkdir -p "$work" "$results"
exec 9>"$work/.lock"
if ! flock -n 9; then
  note "another bench/restore.sh is running; waiting for it"
  flock 9
fi

cargo build --release --quiet -p archive-cli
lakezip=$root/target/release/lakezip
py=$(bench_python)

find "$work" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
www=$work/www
tmp=$work/tmp
out_dir=$work/out
mkdir -p "$www" "$tmp"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp" "$out_dir"
  if [ "${CLEAN:-0}" = 1 ]; then find "$work" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

report=$tmp/report.md
jsonl=$tmp/restore.jsonl
: >"$jsonl"
: >"$report"
md() { printf '%s\n' "$*" | tee -a "$report"; }
load_start=$(loadavg)

# sums.py DIR: "sha1 size path" of every file under DIR, sorted. (A copy of the warehouse
# each night would do too, but a hard-linked one changes the files' ctime, which makes
# tar -g archive every file again, and a full copy costs the disk.)
cat >"$tmp/sums.py" <<'PY'
import hashlib, os, sys
root = sys.argv[1]
out = []
for d, _, files in os.walk(root):
    for name in files:
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha1").hexdigest()
        out.append(f"{digest} {os.path.getsize(path)} {os.path.relpath(path, root)}")
print("\n".join(sorted(out)))
PY

# ---------------------------------------------------------------- the chains
# night CHAIN N: applies night N to the chain's warehouse
night() {
  case $1 in
    evolve) "$py" "$root/testdata/evolve.py" step "$2" "$work/evolve/wh" >/dev/null ;;
    sales) "$py" "$root/bench/chain_warehouse.py" step "$2" "$work/sales/wh" "$chain_mb" ;;
  esac
}
nights() {
  case $1 in
    evolve) "$py" "$root/testdata/evolve.py" steps ;;
    sales) "$py" "$root/bench/chain_warehouse.py" steps ;;
  esac
}
can_run() {
  case $1 in
    evolve) "$py" -c 'import pyiceberg, deltalake, numpy' 2>/dev/null ;;
    sales) "$py" -c 'import deltalake, numpy, pyarrow' 2>/dev/null ;;
    *) note "unknown chain $1 (evolve, sales)"; exit 2 ;;
  esac
}

ran=()
for chain in $chains; do
  if ! can_run "$chain"; then
    note "skipping chain $chain: $py lacks its packages (scripts/setup installs them)"
    continue
  fi
  ran+=("$chain")
  dir=$work/$chain
  mkdir -p "$dir" "$www/$chain"
  n=$(nights "$chain")
  note "chain $chain: $n nights"
  for k in $(seq "$n"); do
    night "$chain" "$k"
    "$lakezip" pack "$dir/wh" -o "$www/$chain/night-$k.zip" --chain "$www/$chain/chain.json" \
      --json --quiet >"$tmp/pack.json"
    tar -cf "$www/$chain/night-$k.tar" -g "$dir/tar.snar" -C "$dir/wh" .
    "$py" "$tmp/sums.py" "$dir/wh" >"$dir/at-$k.sums" # the warehouse at this point
    note "  night $k: $(jq -r 'select(.type=="summary") | "\(.kind), \(.archive_bytes) bytes"' "$tmp/pack.json"), tar $(stat -c %s "$www/$chain/night-$k.tar") bytes"
  done
done
sync

# ---------------------------------------------------------------- servers
log=$tmp/access.log
probe=${ran[0]:-x}/chain.json
start_nginx "$www" "$probe" "$log" "$tmp/nginx"
direct=$nginx_url
start_proxy "$direct" "$delay_ms" "$probe"
proxied=$proxy_url

# ---------------------------------------------------------------- measuring
# tar_restore DIR URL...: what a tar user runs: every archive in order, deletions applied
tar_restore() {
  local dir=$1 url
  shift
  for url; do
    curl -sf "$url" | tar -xf - -g /dev/null -C "$dir" || return 1
  done
}
export -f tar_restore

# measure LABEL SUMS MISSING_OK CMD... (CMD restores into $out_dir). Sets r_time r_times r_req
# r_bytes r_bytes_max r_steps r_rss r_ok r_orphans and JSON arrays j_times j_rss. Steps:
# requests that began when no other was in flight (bench/access_log.py). The first run's
# files are checked against SUMS (the warehouse at that point): a lakezip restore leaves
# out the orphans a table-aware pack skips (files no table state references), which are
# counted in r_orphans (MISSING_OK=yes); a missing file otherwise, or any extra or
# different file, is a mismatch.
measure() {
  local label=$1 sums=$2 missing_ok=$3 i before req bytes steps
  shift 3
  : >"$tmp/times"; : >"$tmp/reqs"; : >"$tmp/bytes"; : >"$tmp/rss"; : >"$tmp/steps"
  r_ok=yes
  r_orphans=0
  for i in $(seq "$runs"); do
    rm -rf "$out_dir"
    mkdir -p "$out_dir"
    sync
    sleep 0.3
    before=$(wc -l <"$log")
    if ! timed "$tmp/rss1" "$tmp/time1" "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.err"; then
      note "FAILED: $label: $*"
      cat "$tmp/cmd.err" >&2
      r_ok="no (exit $(tail -c 300 "$tmp/cmd.err" | tr '\n' ' '))"
    fi
    log_since "$log" "$before" >"$tmp/run.log"
    cat "$tmp/time1" >>"$tmp/times"
    cat "$tmp/rss1" >>"$tmp/rss"
    read -r req _ _ bytes _ _ steps < <("$py" "$root/bench/access_log.py" "$tmp/run.log" 0 0)
    echo "$req" >>"$tmp/reqs"
    echo "$bytes" >>"$tmp/bytes"
    echo "$steps" >>"$tmp/steps"
    if [ "$i" = 1 ]; then
      "$py" "$tmp/sums.py" "$out_dir" >"$tmp/out.sums"
      if LC_ALL=C comm -23 "$tmp/out.sums" "$sums" | grep -q .; then
        note "MISMATCH: $label: files not in the warehouse at that point (or different):"
        LC_ALL=C comm -23 "$tmp/out.sums" "$sums" | head -5 >&2
        r_ok="no (differs from the warehouse at that point)"
      fi
      r_orphans=$(LC_ALL=C comm -13 "$tmp/out.sums" "$sums" | grep -c . || true)
      if [ "$missing_ok" != yes ] && [ "$r_orphans" != 0 ]; then
        note "MISMATCH: $label: $r_orphans files missing"
        r_ok="no ($r_orphans files missing)"
      fi
    fi
    note "  $label run $i: $(cat "$tmp/time1") s, $(tail -1 "$tmp/reqs") requests, $(tail -1 "$tmp/bytes") bytes, peak RSS $(cat "$tmp/rss1") KiB"
  done
  rm -rf "$out_dir"
  r_time=$(median <"$tmp/times")
  r_times=$(sort -n "$tmp/times" | tr '\n' ' ' | sed 's/ $//')
  r_req=$(range_of <"$tmp/reqs")
  r_bytes=$(range_of <"$tmp/bytes")
  r_bytes_max=$(sort -n "$tmp/bytes" | tail -1)
  r_steps=$(range_of <"$tmp/steps")
  r_rss=$(sort -n "$tmp/rss" | tail -1)
  j_times=$(json_array <"$tmp/times")
  j_rss=$(json_array <"$tmp/rss")
}

rec() { # CHAIN POINT TOOL ROUTE [key=value...]
  jrec "$jsonl" type=restore chain="$1" point:="$2" tool="$3" route="$4" requests="$r_req" \
    bytes="$r_bytes" bytes_max:="$r_bytes_max" steps="$r_steps" median_s:="$r_time" times_s:="$j_times" \
    peak_rss_kib:="$r_rss" peak_rss_kib_runs:="$j_rss" identical="$r_ok" "${@:5}"
}

mib() { echo "scale=1; $1 / 1048576" | bc | sed 's/^\./0./'; }
kib_mib() { echo "scale=1; $1 / 1024" | bc | sed 's/^\./0./'; }
pct() { echo "scale=0; 100 * $1 / $2" | bc; }

md "# Restoring a point of a chain over HTTP: lakezip vs tar incrementals vs whole ZIP archives"
md ""
md "Command: \`$cmdline\` (from the repository root; builds \`target/release/lakezip\`)."
md ""
machine_md "$work" | while IFS= read -r line; do md "$line"; done
md "- load average (1/5/15 min) at start: $load_start"
md "- server: $("$nginx_bin" -v 2>&1 | sed 's/.*: //') on 127.0.0.1 (sendfile, keep-alive), page cache warm;"
md "  $(tar --version | head -1), $(curl --version | head -1 | cut -d' ' -f1-2), $("$py" --version),"
md "  deltalake $("$py" -c 'import importlib.metadata as m; print(m.version("deltalake"))' 2>/dev/null || echo -),"
md "  pyiceberg $("$py" -c 'import importlib.metadata as m; print(m.version("pyiceberg"))' 2>/dev/null || echo -)"
md "- every night: \`lakezip pack WH -o night-N.zip --chain chain.json\` (the first a full archive,"
md "  then incrementals) and \`tar -cf night-N.tar -g tar.snar -C WH .\` (GNU listed-incremental:"
md "  level 0, then what changed; deletions recorded), both served by nginx."
md "- lakezip: \`lakezip restore URL/chain.json --at ID -C DIR\`. tar: \`curl URL/night-I.tar | tar -x"
md "  -g /dev/null -C DIR\` for I = 1…N in order (the only way to rebuild night N, deletions"
md "  included). *ZIP archives*: the chain's archives 1…N, what a user without lakezip (any ZIP"
md "  tool) must download to get every file of night N — and unzip alone would still bring back"
md "  deleted files."
md "- requests, bytes and *sequential steps* (requests that began when no other request was in"
md "  flight: each costs a full round trip) from nginx's access log; time: wall clock, median of $runs runs; peak RSS:"
md "  GNU time's %M, the largest of the runs (tar rows: the largest of bash, curl and tar). The"
md "  first run of each restore is compared with the SHA-1 of every file of the warehouse taken"
md "  that night: tar's must be identical; lakezip's too, except the orphans its table-aware pack"
md "  leaves out (files no table state references, e.g. the manifests of expired Iceberg"
md "  snapshots), counted."
md ""

for chain in "${ran[@]}"; do
  n=$(nights "$chain")
  "$lakezip" ls "$www/$chain/chain.json" --json | jq -c 'select(.type=="point")' >"$tmp/points"
  [ "$(wc -l <"$tmp/points")" = "$n" ] || { note "chain $chain: $(wc -l <"$tmp/points") points, expected $n"; exit 1; }
  case $chain in
    evolve) md "## Chain 'evolve': testdata/evolve.py, $n nights (pyiceberg + deltalake)" ;;
    sales) md "## Chain 'sales': bench/chain_warehouse.py, $n nights, $chain_mb MiB on night 1 (deltalake)" ;;
  esac
  md ""
  load_before=$(load1)
  md "| night | kind | archive bytes (zip / tar) | state: files, bytes | lakezip restore: requests, bytes fetched (% of state) | median s | peak RSS MiB | tar: archives, bytes (% of state) | median s | peak RSS MiB | ZIP archives 1…N: bytes (% of state) | lakezip / tar bytes | identical (lakezip orphans left out) |"
  md "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  zip_sum=0
  tar_sum=0
  urls=()
  for k in $(seq "$n"); do
    point=$(sed -n "${k}p" "$tmp/points")
    id=$(jq -r .id <<<"$point")
    kind=$(jq -r .kind <<<"$point")
    state_bytes=$(jq -r .bytes <<<"$point")
    state_files=$(jq -r .files <<<"$point")
    zip_bytes=$(stat -c %s "$www/$chain/night-$k.zip")
    tar_bytes=$(stat -c %s "$www/$chain/night-$k.tar")
    zip_sum=$((zip_sum + zip_bytes))
    tar_sum=$((tar_sum + tar_bytes))
    urls+=("$direct/$chain/night-$k.tar")
    jrec "$jsonl" type=point chain="$chain" point:="$k" id="$id" kind="$kind" \
      state_bytes:="$state_bytes" state_files:="$state_files" zip_bytes:="$zip_bytes" \
      tar_bytes:="$tar_bytes" zip_chain_bytes:="$zip_sum" tar_chain_bytes:="$tar_sum"
    measure "$chain night $k lakezip" "$work/$chain/at-$k.sums" yes \
      "$lakezip" restore "$direct/$chain/chain.json" --at "$id" -C "$out_dir" --quiet --stats --json
    rec "$chain" "$k" lakezip direct orphans:="$r_orphans"
    lz=("$r_req" "$r_bytes" "$r_time" "$r_rss" "$r_ok" "$r_orphans" "$r_bytes_max")
    measure "$chain night $k tar" "$work/$chain/at-$k.sums" no \
      bash -c 'tar_restore "$@"' _ "$out_dir" "${urls[@]}"
    rec "$chain" "$k" tar direct
    md "| $k | $kind | $zip_bytes / $tar_bytes | $state_files, $state_bytes | ${lz[0]}, ${lz[1]} ($(pct "${lz[6]}" "$state_bytes")%) | ${lz[2]} | $(kib_mib "${lz[3]}") | $r_req, $r_bytes ($(pct "$r_bytes_max" "$state_bytes")%) | $r_time | $(kib_mib "$r_rss") | $zip_sum ($(pct "$zip_sum" "$state_bytes")%) | $(echo "scale=2; ${lz[6]} / $r_bytes_max" | bc | sed 's/^\./0./') | lakezip ${lz[4]} (${lz[5]}), tar $r_ok |"
  done
  md ""
  md "Load average (1 min) before/after: $load_before / $(load1)."
  md ""
  # the newest point, each request delayed
  md "Night $n through the latency proxy (+$delay_ms ms a request):"
  md ""
  md "| tool | requests | sequential steps | bytes | median s (all runs) | peak RSS MiB | identical |"
  md "|---|---|---|---|---|---|---|"
  id=$(sed -n "${n}p" "$tmp/points" | jq -r .id)
  measure "$chain night $n lakezip +${delay_ms} ms" "$work/$chain/at-$n.sums" yes \
    "$lakezip" restore "$proxied/$chain/chain.json" --at "$id" -C "$out_dir" --quiet --stats --json
  rec "$chain" "$n" lakezip "proxy +${delay_ms} ms" orphans:="$r_orphans"
  md "| lakezip restore | $r_req | $r_steps | $r_bytes | $r_time ($r_times) | $(kib_mib "$r_rss") | $r_ok |"
  purls=()
  for k in $(seq "$n"); do purls+=("$proxied/$chain/night-$k.tar"); done
  measure "$chain night $n tar +${delay_ms} ms" "$work/$chain/at-$n.sums" no \
    bash -c 'tar_restore "$@"' _ "$out_dir" "${purls[@]}"
  rec "$chain" "$n" tar "proxy +${delay_ms} ms"
  md "| tar, nights 1…$n | $r_req | $r_steps | $r_bytes | $r_time ($r_times) | $(kib_mib "$r_rss") | $r_ok |"
  md ""
  md "Bytes of the warehouse directory at night $n: $(awk '{s += $2} END {print s}' "$work/$chain/at-$n.sums") (tar holds every file"
  md "in it; lakezip's state leaves out the orphans). The chain's archives take $zip_sum bytes"
  md "($(mib "$zip_sum") MiB) on the server, tar's $tar_sum bytes ($(mib "$tar_sum") MiB)."
  md ""
done

jrec "$jsonl" type=info runs:="$runs" delay_ms:="$delay_ms" chain_mb:="$chain_mb"
mv "$report" "$results/restore.md"
mv "$jsonl" "$results/restore.jsonl"
note "written $results/restore.md and $results/restore.jsonl"
