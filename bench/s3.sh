#!/usr/bin/env bash
# Pack throughput and peak memory, local directory → S3 on loopback: `lakezip pack TREE -o
# s3://bench/KEY` (a streamed multipart upload) against the tests' S3 server (s3s + s3s-fs,
# SigV4; examples/s3_server.rs), with --concurrency $CONCURRENCY (default 8, RUNS runs,
# default 3) and --concurrency 1 (RUNS_C1 runs, default 1); and the same tree packed
# local → local for reference. Time: wall clock, median; memory: "Maximum resident set size"
# of /usr/bin/time -v, the largest of the runs. Prints markdown and writes it to
# bench/results/s3.md.
#   bench/s3.sh        (data under target/bench-s3, or WORK=DIR, removed at the end;
#                       KEEP_TREE=1 keeps the 2 GiB tree for the next run; peak disk ~6.5 GB:
#                       tree, parts and the completed object on the server, local archive;
#                       WORK=/dev/shm/… puts it all in RAM when the disk is short)
# Needs /usr/bin/time (Debian package `time`), jq, bc, flock.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cmdline="bench/s3.sh${*:+ $*}"
for v in RUNS RUNS_C1 CONCURRENCY FILES FILE_KIB KEEP_TREE WORK; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done
runs=${RUNS:-3}
runs_c1=${RUNS_C1:-1}
concurrency=${CONCURRENCY:-8}
files=${FILES:-2000}     # 20 tables of FILES/20 files
file_kib=${FILE_KIB:-1024}
work=${WORK:-$root/target/bench-s3}
out=$root/bench/results/s3.md

for tool in /usr/bin/time jq bc flock python3; do
  if ! command -v "$tool" >/dev/null; then
    hint=$tool
    [ "$tool" = /usr/bin/time ] && hint=time
    echo >&2 "bench/s3.sh: $tool is missing (apt-get install $hint)"
    exit 1
  fi
done

mkdir -p "$work" "$root/bench/results"
work=$(cd "$work" && pwd)
# one run at a time: concurrent runs would share the tree and skew each other's times
exec 9>"$work/.lock"
if ! flock -n 9; then
  echo >&2 "another bench/s3.sh is running; waiting for it"
  flock 9
fi

note() { printf '%s\n' "$*" >&2; }

need_kib=$(( (files * file_kib * 33 / 10) + 512 * 1024 ))
if [ -d "$work/tree" ]; then need_kib=$(( need_kib - files * file_kib )); fi
free_kib=$(df -Pk "$work" | awk 'NR==2 {print $4}')
if [ "$free_kib" -lt "$need_kib" ]; then
  note "bench/s3.sh: $((free_kib / 1024)) MiB free under $work, need about $((need_kib / 1024)) MiB"
  exit 1
fi

note "building lakezip and the S3 server (release)"
cargo build --release --quiet -p archive-cli
cargo build --release --quiet --example s3_server
lakezip=$root/target/release/lakezip
s3_server=$root/target/release/examples/s3_server

tree=$work/tree
s3data=$work/s3data   # TMPDIR of the server: its temp data directory goes here
state=$work/state     # lakezip's upload resume state
tmp=$work/tmp
rm -rf "$s3data" "$state" "$tmp"
mkdir -p "$s3data" "$state" "$tmp"
server_pid=""
cleanup() {
  # EOF on the server's stdin: it stops and deletes its data; kill it if it does not
  exec 8>&- 2>/dev/null || true
  if [ -n "$server_pid" ]; then
    local i
    for i in $(seq 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$s3data" "$state" "$tmp" "$work"/local-*.zip
  if [ "${KEEP_TREE:-0}" != 1 ]; then rm -rf "$tree" "$work/tree.done"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- data
if [ ! -f "$work/tree.done" ] || [ "$(cat "$work/tree.done")" != "$files $file_kib" ]; then
  note "generating $tree ($files files of $file_kib KiB in 20 tables)"
  rm -rf "$tree"
  mkdir -p "$tree"
  python3 - "$tree" "$files" "$file_kib" <<'PY'
import os, sys
root, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) * 1024
rnd = os.urandom(size)
for i in range(files):
    d = os.path.join(root, f"t{i % 20:02}", "data")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"part-{i:06}.parquet"), "wb") as f:
        f.write(rnd[i % 97:] + rnd[:i % 97])
PY
  echo "$files $file_kib" >"$work/tree.done"
fi
tree_bytes=$(du -sb "$tree" | cut -f1)
tree_files=$(find "$tree" -type f | wc -l)
cat "$tree"/*/data/* >/dev/null # warm the page cache

# ---------------------------------------------------------------- server
rm -f "$work/ctl"
mkfifo "$work/ctl"
TMPDIR=$s3data "$s3_server" bench <"$work/ctl" >"$tmp/s3.env" 2>"$tmp/s3.err" &
server_pid=$!
exec 8<>"$work/ctl" # the server's stdin stays open as long as this fd (<>: never blocks)
rm -f "$work/ctl"
for _ in $(seq 150); do
  grep -q '^# ready' "$tmp/s3.env" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if ! grep -q '^# ready' "$tmp/s3.env" 2>/dev/null; then
  note "the S3 server did not start:"
  cat "$tmp/s3.err" >&2
  exit 1
fi
# shellcheck disable=SC1091
. "$tmp/s3.env"
bucket_dir=$(sed -n 's/^# data: //p' "$tmp/s3.env")/bench
note "S3 server: $AWS_ENDPOINT_URL (pid $server_pid)"

# ---------------------------------------------------------------- measuring
clk_tck=$(getconf CLK_TCK)
server_cpu() { # user+sys seconds of the server so far
  awk -v t="$clk_tck" '{print ($14 + $15) / t}' "/proc/$server_pid/stat"
}
busy_cpu() { # seconds all CPUs spent not idle, machine-wide
  awk -v t="$clk_tck" '/^cpu / {print ($2 + $3 + $4 + $7 + $8 + $9) / t}' /proc/stat
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# measure LABEL RUNS DEST_PREFIX EXTRA_ARGS...: runs `lakezip pack $src -o DEST_PREFIX-N.zip`;
# sets r_time r_times r_rss_mib r_rss_all r_cpu r_server_cpu r_others r_bytes r_parts
# r_part_size. Other processes' CPU time during a run: machine-wide busy time (/proc/stat)
# minus lakezip's and the server's.
measure() {
  local label=$1 n=$2 dest=$3
  shift 3
  local i start end target rss cpu s0 s1 b0 b1
  : >"$tmp/times"; : >"$tmp/rss"; : >"$tmp/cpu"; : >"$tmp/scpu"; : >"$tmp/others"
  r_parts=-; r_part_size=-; r_bytes=-
  for i in $(seq "$n"); do
    target=$dest-$i.zip
    sync # no writeback of the previous run's data during this one
    s0=$(server_cpu)
    b0=$(busy_cpu)
    start=$(date +%s.%N)
    if ! /usr/bin/time -v -o "$tmp/time.txt" \
      "$lakezip" pack "$src" -o "$target" -q --json --state-dir "$state" "$@" \
      >"$tmp/out.json" 2>"$tmp/err.txt"; then
      note "FAILED: $label run $i:"
      cat "$tmp/err.txt" "$tmp/time.txt" >&2
      exit 1
    fi
    end=$(date +%s.%N)
    b1=$(busy_cpu)
    s1=$(server_cpu)
    echo "$end - $start" | bc | awk '{printf "%.3f\n", $1}' >>"$tmp/times"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
    echo "$rss" >>"$tmp/rss"
    cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f\n", u + s}' "$tmp/time.txt")
    echo "$cpu" >>"$tmp/cpu"
    echo "$s1 - $s0" | bc | awk '{printf "%.2f\n", $1}' >>"$tmp/scpu"
    echo "$b1 - $b0 - ($s1 - $s0) - $cpu" | bc | awk '{printf "%.1f\n", ($1 < 0 ? 0 : $1)}' >>"$tmp/others"
    r_bytes=$(jq -r 'select(.type=="summary") | .archive_bytes' "$tmp/out.json")
    if [[ $target == s3://* ]]; then
      r_parts=$(jq -r 'select(.type=="summary") | .stored.parts' "$tmp/out.json")
      r_part_size=$(jq -r 'select(.type=="summary") | .stored.part_size' "$tmp/out.json")
      local key=${target#s3://bench/} size
      size=$(stat -c %s "$bucket_dir/$key")
      if [ "$size" != "$r_bytes" ]; then
        note "MISMATCH: $label run $i: the server holds $size bytes, lakezip wrote $r_bytes"
        exit 1
      fi
      # delete the object (s3s-fs keeps it as a file plus an info file) and check that no
      # upload was left behind
      rm -f "$bucket_dir/$key" "$(dirname "$bucket_dir")"/.bucket-*.object-*.internal.json
      if compgen -G "$(dirname "$bucket_dir")/.upload*" >/dev/null; then
        note "LEFTOVER upload files after $label run $i:"
        ls -la "$(dirname "$bucket_dir")" >&2
        exit 1
      fi
    else
      rm -f "$target"
    fi
    note "  $label run $i: $(tail -1 "$tmp/times") s, max RSS $(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}') MiB, lakezip CPU $cpu s, server CPU $(tail -1 "$tmp/scpu") s, other processes' CPU $(tail -1 "$tmp/others") s"
  done
  r_time=$(median <"$tmp/times")
  r_times=$(sort -n "$tmp/times" | tr '\n' ' ' | sed 's/ $//')
  r_rss_mib=$(sort -n "$tmp/rss" | tail -1 | awk '{printf "%.0f", $1 / 1024}')
  r_rss_all=$(sort -n "$tmp/rss" | awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $1 / 1024}')
  r_cpu=$(median <"$tmp/cpu")
  r_server_cpu=$(median <"$tmp/scpu")
  r_others=$(tr '\n' ' ' <"$tmp/others" | sed 's/ $//')
}

report=$tmp/report.md
md() { printf '%s\n' "$*" | tee -a "$report"; }
mib() { echo "scale=0; $1 / 1048576" | bc; }

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# uncommitted changes to anything lakezip is built from (not tests, benches or docs)
if [ -n "$(git status --porcelain --untracked-files=no -- . ':!bench' ':!docs' ':!tests' \
  ':!examples' ':!testdata' ':!README.md' 2>/dev/null)" ]; then
  git_rev="$git_rev + uncommitted changes in the lakezip crates"
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ram=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
fs=$(df -PT "$work" | awk 'NR==2 {print $2}')

# the fixed cost: one 1 KiB file to S3 (a single PutObject, no part buffers)
mkdir -p "$tmp/tiny/t00/data"
head -c 1024 /dev/urandom >"$tmp/tiny/t00/data/part-000000.parquet"
src=$tmp/tiny
measure "s3 tiny" 1 "s3://bench/tiny"
tiny_rss_mib=$r_rss_mib

src=$tree
rows=()
for spec in "S3:$concurrency:$runs" "S3:1:$runs_c1" "local:$concurrency:$runs"; do
  IFS=: read -r where c n <<<"$spec"
  [ "$n" -gt 0 ] || continue
  if [ "$where" = S3 ]; then
    measure "s3 c$c" "$n" "s3://bench/run-c$c" --concurrency "$c"
    dest="s3://bench (multipart)"
    parts="$r_parts × $(mib "$r_part_size") MiB"
    bound_mib=$(mib "$(( (c + 1) * r_part_size ))")
    server_cpu_s=$r_server_cpu
  else
    measure "local c$c" "$n" "$work/local" --concurrency "$c"
    dest="local file (fsync)"
    parts=-; bound_mib=-; server_cpu_s=-
  fi
  mbs=$(echo "scale=0; $r_bytes / $r_time / 1000000" | bc)
  rows+=("| $dest | $c | $n | $r_time ($r_times) | $mbs | $r_rss_mib ($r_rss_all) | $parts | $bound_mib | $r_cpu | $server_cpu_s | $r_others |")
  archive_bytes=$r_bytes
done

md "# Pack throughput and memory, local directory → S3 on loopback"
md ""
md "Command: \`$cmdline\` (from the repository root; builds \`target/release/lakezip\` and"
md "\`target/release/examples/s3_server\`)."
md ""
md "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), lakezip $git_rev ($("$lakezip" --version 2>/dev/null || echo lakezip))"
md "- machine: $(nproc) cores, $cpu_model, $ram RAM, kernel $(uname -r), $fs"
md "- load average (1/5/15 min) at start: $load_start"
md "- tree: $tree_files files of $file_kib KiB in 20 folders (\`tNN/data/part-NNNNNN.parquet\`),"
md "  $tree_bytes bytes, page cache warm; archive: $archive_bytes bytes"
if [ "$fs" = tmpfs ]; then
  md "- data (tree, server objects and parts, local archive) on tmpfs ($work): no disk I/O,"
  md "  and lakezip's fsync of the local archive costs nothing"
fi
md "- server: examples/s3_server.rs (the tests' s3s-fs 0.14 server with SigV4, on 127.0.0.1,"
md "  same machine, same cores); every object is deleted after its run"
md ""
md "| destination | --concurrency | runs | median s (all runs) | MB/s | peak RSS MiB (each run) | parts × part size | (concurrency + 1) × part size, MiB | lakezip CPU s (user+sys) | server CPU s | other processes' CPU s (each run) |"
md "|---|---|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do md "$row"; done
md ""
md "- MB/s: archive bytes / median wall time (10^6 bytes). Wall time includes the"
md "  multipart completion: s3s-fs 0.14 concatenates the parts into the object (another"
md "  full write of the archive on the server) before it answers, and the server's SigV4"
md "  and MD5/CRC-32 work runs on the same $(nproc) cores as lakezip (see *server CPU*)."
md "- Peak RSS: \"Maximum resident set size\" from \`/usr/bin/time -v\`; the first number is the"
md "  largest of the runs. The upload keeps at most --concurrency parts in flight plus the"
md "  one being filled, so its buffers are bounded by (concurrency + 1) × part size; the"
md "  rest is the process itself (runtime, SDK, the pack's own read buffers): packing one"
md "  1 KiB file to S3 (one PutObject, no parts) peaks at $tiny_rss_mib MiB."
md "- --concurrency also sets the read-ahead for S3 sources; local files (as here) are read in order."
md "- Local → local: \`lakezip pack TREE -o FILE\` in the same directory as the tree, for reference"
md "  (lakezip fsyncs the archive before renaming it into place)."
md "- Other processes' CPU: machine-wide busy CPU time during the run (/proc/stat) minus"
md "  lakezip's and the server's; anything well above zero (e.g. tests or builds of other"
md "  users on these $(nproc) cores) competed with the run and makes its time less reliable."

mv "$report" "$out"
note "written $out"
