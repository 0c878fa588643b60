# Shared pieces of the bench scripts (sourced, not run): small helpers, the machine's
# description, peak-RSS timing, machine-readable records, and the loopback HTTP servers
# (nginx, the latency proxy). Each bench script keeps its own measuring and report.
# The caller sets root (the repository), and lakezip (the binary) and py (bench_python)
# before the functions that use them.
# shellcheck shell=bash

note() { printf '%s\n' "$*" >&2; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range_of() { sort -n | uniq | awk 'NR==1{a=$1} {b=$1} END {print (a==b) ? a : a "–" b}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
json_array() { jq -cs . ; } # numbers, one a line -> [n, n, ...]

need_tools() { # tool... (exits naming the Debian package of the first one missing)
  local tool hint
  for tool; do
    if ! command -v "$tool" >/dev/null; then
      hint=$tool
      [ "$tool" = /usr/bin/time ] && hint="time"
      note "${0##*/}: $tool is missing (apt-get install $hint)"
      exit 1
    fi
  done
}

# The repository's .venv when it exists (it has remotezip, pyiceberg, deltalake), else python3.
bench_python() {
  if [ -x "${root:?}/.venv/bin/python" ]; then echo "$root/.venv/bin/python"; else echo python3; fi
}

# The commit measured, and whether the lakezip crates had uncommitted changes (changes to
# benches, docs and tests do not change the binary).
git_rev() {
  local rev
  rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$root" status --porcelain --untracked-files=no -- . ':!bench' ':!docs' \
    ':!tests' ':!examples' ':!testdata' ':!README.md' 2>/dev/null)" ]; then
    rev="$rev + uncommitted changes in the lakezip crates"
  fi
  echo "$rev"
}

cpu_model() { sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1; }
ram_gib() { awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo; }

# Markdown lines describing the run: date, commit, machine. $1: the directory the data
# lives in (its file system is named).
machine_md() {
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), lakezip $(git_rev) ($("${lakezip:?}" --version 2>/dev/null || echo lakezip))"
  echo "- machine: $(nproc) cores, $(cpu_model), $(ram_gib) RAM, kernel $(uname -r)${1:+, data on $(df -PT "$1" | awk 'NR==2 {print $2}')}"
}

# timed RSS_FILE TIME_FILE CMD...: runs CMD (stdin, stdout and stderr as given); writes its
# peak RSS in KiB (GNU time's %M: the largest of the command and every process it waited
# for) to RSS_FILE and its wall time in seconds to TIME_FILE. Returns CMD's status.
timed() {
  local rss_file=$1 time_file=$2 start end status=0
  shift 2
  start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$rss_file.raw" "$@" || status=$?
  end=$(date +%s.%N)
  tail -n 1 "$rss_file.raw" >"$rss_file" # a failed command adds a "Command exited" line
  rm -f "$rss_file.raw"
  echo "$end - $start" | bc | awk '{printf "%.3f\n", $1}' >"$time_file"
  return "$status"
}

# jrec FILE key=string key:=json...: appends one JSON object (a line) to FILE.
jrec() {
  local file=$1 kv args=()
  shift
  for kv; do
    if [[ $kv == *:=* && ${kv%%:=*} != *=* ]]; then
      args+=(--argjson "${kv%%:=*}" "${kv#*:=}")
    else
      args+=(--arg "${kv%%=*}" "${kv#*=}")
    fi
  done
  jq -cn '$ARGS.named' "${args[@]}" >>"$file"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url
  for _ in $(seq 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  note "no answer from $1"
  return 1
}

# start_nginx WWW PROBE_PATH ACCESS_LOG DIR: serves WWW on 127.0.0.1 (sendfile, keep-alive,
# Range), with one access-log line per request:
#   $request_time $status $body_bytes_sent "$http_range" $request_method $connection
#   $connection_requests $msec
# DIR holds its configuration and temporary files. Sets nginx_url and nginx_bin, and adds
# the server to the caller's pids array (the caller kills them on exit).
start_nginx() {
  local www=$1 probe=$2 log=$3 dir=$4 port user_line=""
  nginx_bin=/usr/sbin/nginx
  [ -x "$nginx_bin" ] || nginx_bin=$(command -v nginx)
  port=$(free_port)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && user_line="user root root;"
  cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
master_process off;
worker_processes 1;
pid "$dir/nginx.pid";
error_log "$dir/error.log" warn;
events { worker_connections 1024; }
http {
    log_format bench '\$request_time \$status \$body_bytes_sent "\$http_range" \$request_method \$connection \$connection_requests \$msec';
    access_log "$log" bench;
    client_body_temp_path "$dir/client_body";
    proxy_temp_path "$dir/proxy";
    fastcgi_temp_path "$dir/fastcgi";
    uwsgi_temp_path "$dir/uwsgi";
    scgi_temp_path "$dir/scgi";
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
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/stderr" &
  pids+=($!)
  nginx_url=http://127.0.0.1:$port
  wait_http "$nginx_url/$probe"
}

# start_proxy UPSTREAM_URL DELAY_MS PROBE_PATH: bench/latency_proxy.py in front of
# UPSTREAM_URL, delaying every request by DELAY_MS. Sets proxy_url; adds to pids.
start_proxy() {
  local upstream=${1#http://} delay=$2 probe=$3 port
  port=$(free_port)
  "${py:?}" "$root/bench/latency_proxy.py" "$port" "$upstream" "$delay" >/dev/null &
  pids+=($!)
  proxy_url=http://127.0.0.1:$port
  wait_http "$proxy_url/$probe"
}

# log_since LOG LINE_COUNT: the access-log lines after the first LINE_COUNT, once the
# server has written the last request's line (nginx logs after the reply is sent).
log_since() {
  sleep 0.3
  tail -n +$(($2 + 1)) "$1"
}
