#!/usr/bin/env bash
# Pack throughput and peak memory, local → local: lakezip vs tar -cf vs zip -0 -r over the
# same trees, in the same run. Time: median of RUNS runs (default 5), page cache warm; peak
# RSS: GNU time's %M, the largest of the runs. Prints markdown and writes it to
# $RESULTS/pack.md (default bench/results), with one JSON line per row in
# $RESULTS/pack.jsonl (read by bench/run).
#   bench/pack.sh [WORKDIR]     (default: target/bench-pack; needs ~3 GB free; the trees are
#                                kept and reused, CLEAN=1 removes WORKDIR at the end)
#   TREES="large:1000:1024 small:20000:16"   the trees, NAME:FILES:KIB each (the default)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
cmdline="bench/pack.sh${*:+ $*}"
for v in RUNS TREES RESULTS CLEAN; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done
work=${1:-target/bench-pack}
runs=${RUNS:-5}
trees=${TREES:-large:1000:1024 small:20000:16}
results=${RESULTS:-$root/bench/results}
need_tools /usr/bin/time jq bc tar zip python3

cargo build --release --quiet -p archive-cli
lakezip=$root/target/release/lakezip
mkdir -p "$work" "$results"
work=$(cd "$work" && pwd)
tmp=$(mktemp -d "$work/tmp.XXXXXX")
# the archive each run writes; with an extension, or zip would write "out.zip" instead
arch=$work/out.archive
cleanup() {
  rm -rf "$tmp" "$arch"
  if [ "${CLEAN:-0}" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make_tree() { # name files size_kib (a tree made with other parameters is made anew)
  local dir=$work/$1
  [ -d "$dir" ] && [ "$(cat "$dir.done" 2>/dev/null)" = "$2 $3" ] && return
  rm -rf "$dir"
  mkdir -p "$dir"
  python3 - "$dir" "$2" "$3" <<'PY'
import os, sys
root, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) * 1024
rnd = os.urandom(size)
for i in range(files):
    d = os.path.join(root, f"t{i % 20}", "data")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"part-{i:06}.parquet"), "wb") as f:
        f.write(rnd[i % 97:] + rnd[:i % 97])
PY
  echo "$2 $3" >"$dir.done"
}

# measure COMMAND...: RUNS runs writing $arch; sets t_med t_all rss_kib out_bytes
measure() {
  : >"$tmp/times"; : >"$tmp/rss"
  for _ in $(seq "$runs"); do
    rm -f "$arch"
    if ! timed "$tmp/rss1" "$tmp/time1" "$@" >/dev/null 2>"$tmp/err"; then
      note "FAILED: $*"; cat "$tmp/err" >&2; exit 1
    fi
    cat "$tmp/time1" >>"$tmp/times"
    cat "$tmp/rss1" >>"$tmp/rss"
  done
  t_med=$(median <"$tmp/times")
  t_all=$(json_array <"$tmp/times")
  rss_kib=$(sort -n "$tmp/rss" | tail -1)
  out_bytes=$(stat -c %s "$arch")
}

report=$tmp/report.md
jsonl=$tmp/pack.jsonl
: >"$jsonl"
md() { printf '%s\n' "$*" | tee -a "$report" >&2; }
tree_lines=()
rows=()
load_start=$(loadavg)
for spec in $trees; do
  IFS=: read -r name files kib <<<"$spec"
  make_tree "$name" "$files" "$kib"
  src=$work/$name
  bytes=$(du -sb "$src" | cut -f1)
  tree_lines+=("'$name' = $files files of $kib KiB in 20 folders ($bytes bytes)")
  cat "$src"/*/data/* >/dev/null # warm the page cache
  measure tar -cf "$arch" -C "$src" .
  t_tar=$t_med
  declare -A t=() all=() rss=() size=()
  t["tar -cf"]=$t_med; all["tar -cf"]=$t_all; rss["tar -cf"]=$rss_kib; size["tar -cf"]=$out_bytes
  # lakezip fsyncs the archive before renaming it into place; tar does not. This row
  # gives tar the same durability, for a like-for-like comparison.
  # shellcheck disable=SC2016 # $1 and $2 are sh -c's arguments
  measure sh -c 'tar -cf "$1" -C "$2" . && sync "$1"' sh "$arch" "$src"
  t["tar -cf + fsync"]=$t_med; all["tar -cf + fsync"]=$t_all; rss["tar -cf + fsync"]=$rss_kib
  size["tar -cf + fsync"]=$out_bytes
  # shellcheck disable=SC2016
  measure sh -c 'cd "$1" && exec zip -0 -q -r "$2" .' sh "$src" "$arch"
  t["zip -0 -r"]=$t_med; all["zip -0 -r"]=$t_all; rss["zip -0 -r"]=$rss_kib; size["zip -0 -r"]=$out_bytes
  measure "$lakezip" pack "$src" -o "$arch" --quiet
  t["lakezip pack"]=$t_med; all["lakezip pack"]=$t_all; rss["lakezip pack"]=$rss_kib
  size["lakezip pack"]=$out_bytes
  for tool in "tar -cf" "tar -cf + fsync" "zip -0 -r" "lakezip pack"; do
    mbs=$(echo "scale=0; $bytes / ${t[$tool]} / 1000000" | bc)
    ratio=$(echo "scale=2; $t_tar / ${t[$tool]}" | bc | sed 's/^\./0./')
    rss_mib=$(echo "scale=1; ${rss[$tool]} / 1024" | bc | sed 's/^\./0./')
    rows+=("| $name ($files files) | $bytes | $tool | ${t[$tool]} | $mbs | ${ratio}x | $rss_mib | ${size[$tool]} |")
    jrec "$jsonl" tree="$name" files:="$files" file_kib:="$kib" bytes:="$bytes" tool="$tool" \
      median_s:="${t[$tool]}" times_s:="${all[$tool]}" mb_s:="$mbs" vs_tar:="$ratio" \
      peak_rss_kib:="${rss[$tool]}" archive_bytes:="${size[$tool]}"
  done
done

md "# Pack throughput and memory, local → local"
md ""
md "Command: \`$cmdline\` (median of $runs runs, page cache warm)."
md ""
machine_md "$work" | while IFS= read -r line; do md "$line"; done
md "- load average (1/5/15 min): $load_start at the start, $(loadavg) at the end"
md "- tools: $(tar --version | head -1), $(zip -v | sed -n 2p | sed 's/^This is //; s/, by Info-ZIP.*//')"
for line in "${tree_lines[@]}"; do md "- tree $line"; done
md ""
md "| tree | bytes | tool | median s | MB/s | vs tar | peak RSS MiB | archive bytes |"
md "|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do md "$row"; done
md ""
md "lakezip fsyncs the archive (in the background while writing, then once before the rename"
md "into place), so a crash never leaves a partial archive at DEST; plain tar does not fsync."
md "The 'tar -cf + fsync' row is the like-for-like durable comparison. Peak RSS: GNU time's"
md "%M (maximum resident set size; for the sh -c rows the largest of sh and its children),"
md "the largest of the runs."

mv "$report" "$results/pack.md"
mv "$jsonl" "$results/pack.jsonl"
cat "$results/pack.md"
note "written $results/pack.md and $results/pack.jsonl"
