#!/usr/bin/env bash
# Regenerates the foreign (non-lakezip) ZIP fixtures in this directory and expected.json.
# Needs: Info-ZIP zip, 7z (p7zip), java 11+ (single-file source launch), python3.
# Usage: testdata/foreign/make.sh        (PYTHON=... to pick the interpreter)
set -euo pipefail
export TZ=UTC LC_ALL=C.UTF-8
HERE="$(cd "$(dirname "$0")" && pwd)"
WH="$HERE/../warehouse"
PY="${PYTHON:-python3}"
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")";; esac
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

# ---- input files (deterministic content and mtimes)
cd "$STAGE"
mkdir -p sub/dir sales/_delta_log
printf 'hello, lakezip\n' > hello.txt
: > empty.txt
printf 'nested file\nline 2\n' > sub/dir/nested.txt
"$PY" -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 256 for i in range(4096)))' > data.bin
cp "$WH/delta/sales/_delta_log/00000000000000000000.json" sales/_delta_log/
cp "$(ls "$WH"/delta/sales/region=north/*.parquet | LC_ALL=C sort | head -1)" sales/part-00000.parquet
find . -exec touch -h -d '2024-01-01 00:00:00' {} +
INPUTS=(hello.txt empty.txt data.bin sub sales)   # sub/ and sales/ are directories

cd "$HERE"
rm -f zip0.zip python.zip python-deflate.zip sevenzip.zip java.zip streaming.zip \
      python-streaming.zip zip64.zip

# Info-ZIP, stored, recursive, no extra attributes (has directory entries)
(cd "$STAGE" && zip -q -0 -r -X "$HERE/zip0.zip" "${INPUTS[@]}")
# Info-ZIP writing to a pipe: local headers have bit 3 set, data descriptors follow the data
(cd "$STAGE" && zip -q -0 -r -X - "${INPUTS[@]}" | cat > "$HERE/streaming.zip")
# Info-ZIP with forced Zip64 extra fields (-fz)
(cd "$STAGE" && zip -q -0 -r -X -fz "$HERE/zip64.zip" "${INPUTS[@]}")
# 7-Zip, zip format, no compression
(cd "$STAGE" && 7z a -bd -tzip -mx=0 "$HERE/sevenzip.zip" "${INPUTS[@]}" > /dev/null)
# Java ZipOutputStream, STORED entries
java "$HERE/MakeJavaZip.java" "$HERE/java.zip" "$STAGE" "${INPUTS[@]}"

# Python zipfile: stored, deflated, and streamed to a non-seekable pipe (data descriptors)
"$PY" - "$STAGE" "$HERE" <<'EOF'
import os, subprocess, sys, zipfile
stage, here = sys.argv[1], sys.argv[2]
files = []
for root, dirs, names in os.walk(stage):
    dirs.sort()
    for n in sorted(names):
        p = os.path.join(root, n)
        files.append((p, os.path.relpath(p, stage)))
files.sort(key=lambda f: f[1])
for out, method in (("python.zip", zipfile.ZIP_STORED), ("python-deflate.zip", zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(os.path.join(here, out), "w", method) as z:
        for p, arc in files:
            z.write(p, arc)
# Non-seekable output: zipfile sets flag bit 3 and writes data descriptors.
with open(os.path.join(here, "python-streaming.zip"), "wb") as f:
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=f)
    with zipfile.ZipFile(cat.stdin, "w", zipfile.ZIP_STORED) as z:
        for p, arc in files:
            zi = zipfile.ZipInfo.from_file(p, arc)
            with open(p, "rb") as src, z.open(zi, "w") as dst:
                dst.write(src.read())
    cat.stdin.close()
    assert cat.wait() == 0
EOF

# expected.json: members of every zip as read by Python's zipfile
"$PY" - "$HERE" > "$HERE/expected.json" <<'EOF'
import hashlib, json, os, sys, zipfile
here = sys.argv[1]
out = {}
for name in sorted(f for f in os.listdir(here) if f.endswith(".zip")):
    with zipfile.ZipFile(os.path.join(here, name)) as z:
        members = []
        for i in z.infolist():
            data = z.read(i)
            members.append({
                "name": i.filename,
                "is_dir": i.is_dir(),
                "size": i.file_size,
                "compressed_size": i.compress_size,
                "method": i.compress_type,
                "crc32": i.CRC,
                "data_descriptor": bool(i.flag_bits & 0x08),
                "sha256": hashlib.sha256(data).hexdigest(),
            })
    out[name] = {"size": os.path.getsize(os.path.join(here, name)), "members": members}
json.dump(out, sys.stdout, indent=2)
sys.stdout.write("\n")
EOF
echo "wrote $(ls "$HERE"/*.zip | wc -l) zips and expected.json in $HERE"
