#!/usr/bin/env bash
# Pack throughput, local → local: lakezip vs tar -cf vs zip -0 -r over the same trees, in
# the same run. Prints a markdown table (median of RUNS runs, page cache warm).
#   bench/pack.sh [WORKDIR]     (default: target/bench-pack; needs ~3 GB free)
# Results of a run are kept in bench/results/pack.md.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-target/bench-pack}
runs=${RUNS:-5}
cargo build --release --quiet -p archive-cli
lakezip=$PWD/target/release/lakezip
mkdir -p "$work"
work=$(cd "$work" && pwd)

make_tree() { # name files size_kib
  local dir=$work/$1
  [ -d "$dir" ] && return
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
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

timeit() { # command...
  for _ in $(seq "$runs"); do
    rm -f "$work/out"
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
  done | median
}

echo "| tree | bytes | tool | median s | MB/s | vs tar |"
echo "|---|---|---|---|---|---|"
for spec in "large 1000 1024" "small 20000 16"; do
  set -- $spec
  make_tree "$1" "$2" "$3"
  src=$work/$1
  bytes=$(du -sb "$src" | cut -f1)
  cat "$src"/*/data/* >/dev/null # warm the page cache
  t_tar=$(timeit tar -cf "$work/out" -C "$src" .)
  # lakezip fsyncs the archive before renaming it into place; tar does not. This row
  # gives tar the same durability, for a like-for-like comparison.
  t_tar_sync=$(timeit sh -c "tar -cf '$work/out' -C '$src' . && sync '$work/out'")
  t_zip=$(cd "$src" && timeit zip -0 -q -r "$work/out" .)
  t_lz=$(timeit "$lakezip" pack "$src" -o "$work/out" --quiet)
  for row in "tar -cf:$t_tar" "tar -cf + fsync:$t_tar_sync" "zip -0 -r:$t_zip" "lakezip pack:$t_lz"; do
    tool=${row%%:*}; t=${row#*:}
    mbs=$(echo "scale=0; $bytes / $t / 1000000" | bc)
    ratio=$(echo "scale=2; $t_tar / $t" | bc)
    echo "| $1 ($2 files) | $bytes | $tool | $t | $mbs | ${ratio}x |"
  done
done
