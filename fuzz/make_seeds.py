#!/usr/bin/env python3
"""Regenerates fuzz/seeds/ (see fuzz/README.md for what each folder holds and where it
comes from). Run from the repository root after `cargo build -p archive-cli`:

    python3 fuzz/make_seeds.py

Deterministic: the fixture tree has fixed contents and SOURCE_DATE_EPOCH is set, so the
packed archives and the chain are byte-identical on every run.
"""

import os
import shutil
import struct
import subprocess
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
LAKEZIP = ROOT / "target" / "debug" / "lakezip"
# Larger archives add little the 64 KiB-padding pass of the `directory` target does not
# reach and slow every execution down.
MAX_SEED = 64 * 1024


def write(target, name, data):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def fixture_tree(src):
    files = {
        "db/t/metadata/v1.metadata.json": b'{"format-version":2,"table-uuid":"u"}\n',
        "db/t/metadata/version-hint.text": b"1\n",
        "db/t/data/part-0.parquet": bytes(range(256)) + b"PAR1",
        "d/_delta_log/00000000000000000000.json": (
            b'{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}\n'
            b'{"add":{"path":"x=1/part-0.parquet","size":200}}\n'
        ),
        "d/x=1/part-0.parquet": bytes(range(200)),
        "misc/readme.txt": "héllo wörld\n".encode(),
        "top.txt": b"loose\n",
    }
    for name, data in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (1_600_000_000, 1_600_000_000))


def pack(src, out, *extra):
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    subprocess.run(
        [str(LAKEZIP), "pack", "--all-files", "-q", ".", "-o", str(out), *extra],
        cwd=src,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def tree_input(files, flags=0):
    """Encodes a tree for the `roundtrip` target (see archive_format::fuzzing)."""
    out = bytearray([flags])
    for components, content in files:
        large = isinstance(content, int)
        # op: component count - 1; 0x24: a member past the in-memory limit; default mtime/mode
        out.append(len(components) - 1 | (0x24 if large else 0))
        for c in components:
            if isinstance(c, int):
                out.append(c)  # a word from fuzzing::WORDS
            else:
                raw = c.encode()
                assert len(raw) < 16
                out.append(0x90 | len(raw))
                out += raw
        if large:
            out += struct.pack("<HB", content, 7)  # 1 MiB + content bytes, pattern seed
        else:
            out.append(len(content))
            out += content
    return bytes(out)


def main():
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src, out = tmp / "src", tmp / "out"
        src.mkdir()
        out.mkdir()
        fixture_tree(src)
        pack(src, out / "fixture.zip")
        pack(src, out / "night-1.zip", "--chain", str(out / "chain.json"))
        (src / "misc" / "new.txt").write_bytes(b"more\n")
        os.utime(src / "misc" / "new.txt", (1_600_000_100, 1_600_000_100))
        (src / "top.txt").unlink()
        pack(src, out / "night-2.zip", "--chain", str(out / "chain.json"))

        # directory: third-party archives and our own.
        zips = sorted((ROOT / "testdata" / "foreign").glob("*.zip"))
        zips += sorted((ROOT / "testdata" / "corpus").rglob("*.zip"))
        for path in zips:
            data = path.read_bytes()
            if len(data) <= MAX_SEED:
                rel = path.relative_to(ROOT / "testdata")
                write("directory", "-".join(rel.parts).replace(" ", "_"), data)
        fixture = (out / "fixture.zip").read_bytes()
        write("directory", "lakezip-fixture.zip", fixture)
        write("directory", "lakezip-incremental.zip", (out / "night-2.zip").read_bytes())

        # local_header: 64 bytes describing the central entry (zeros: take the local
        # header's own values), then a local or central header and what follows it.
        for name in ["foreign/zip64.zip", "foreign/python-deflate.zip", "foreign/streaming.zip",
                     "corpus/yauzl/success/unicode-path-extra-field.zip",
                     "corpus/zip2/extended_timestamp.zip"]:
            data = (ROOT / "testdata" / name).read_bytes()
            stem = name.replace("/", "-")
            write("local_header", f"local-{stem}", bytes(64) + data[:512])
            end = data.rfind(b"PK\x05\x06")
            cd = struct.unpack_from("<I", data, end + 16)[0]
            if cd != 0xFFFFFFFF:
                write("local_header", f"central-{stem}", bytes(64) + data[cd:cd + 256])
        write("local_header", "local-lakezip-fixture.zip", bytes(64) + fixture[:512])
        write("local_header", "zip64-needs-lakezip-fixture.zip", b"\x03" + bytes(63) + fixture[:512])

        # manifest: the fixture's manifest, index and comment; an index behind end records
        # that accept it (selector bit 1: pointer CRC-32 computed by the harness).
        with zipfile.ZipFile(out / "fixture.zip") as z:
            manifest = z.read(".lakezip/manifest.json")
            index = z.read(".lakezip/index.json")
            comment = z.comment
        write("manifest", "manifest.json", manifest)
        write("manifest", "index.json", index)
        write("manifest", "comment.txt", comment)
        header = struct.pack("<BQQIQQH", 1, 0, len(index), 0, len(fixture), 1 << 20, 8)
        write("manifest", "index-with-end-records.bin", header + index)

        # chain: the two-archive chain, and the same with a prefix to find.
        chain = (out / "chain.json").read_bytes()
        write("chain", "chain.json", chain)
        write("chain", "chain-find-prefix.bin", chain + b"\xff" + chain[chain.find(b'"id": "') + 7:][:6])
        write("chain", "empty.json", b'{"lakezip_chain": 1, "archives": []}\n')

    # roundtrip: a few trees (word numbers index fuzzing::WORDS).
    iceberg = [([9, "t", 0, 5], b'{"format-version":2}'), ([9, "t", 2, 10], bytes(range(40)))]
    delta = [(["d", 1, 3], b'{"add":{}}\n'), (["d", 2, 10], b"PAR1")]
    write("roundtrip", "iceberg.bin", tree_input(iceberg))
    write("roundtrip", "delta-deterministic.bin", tree_input(delta, flags=4))
    write("roundtrip", "mixed-streaming.bin", tree_input(iceberg + delta + [([17, 18], b"x")], flags=2))
    write("roundtrip", "unsafe.bin", tree_input([([15, "x"], b"no")]))
    big = [([9, "t", 2, 10], 100)]
    write("roundtrip", "large-streaming.bin", tree_input(iceberg + big, flags=2))
    write("roundtrip", "large-seekable.bin", tree_input(big + delta, flags=4))


    # iceberg_metadata, delta_actions: tables of testdata/warehouse in the in-memory
    # table encoding (see table_state::fuzzing); metadata and logs with their content,
    # data files by name only (selection checks that they exist, never reads them).
    def table_input(table, keep_content, skip=lambda rel: False):
        out = bytearray()
        base = ROOT / "testdata" / "warehouse" / table
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            if skip(rel):
                continue
            name = rel.encode()
            content = path.read_bytes() if keep_content(rel) else b""
            out += bytes([len(name)]) + name + struct.pack("<I", len(content)) + content
        return bytes(out)

    in_metadata = lambda rel: rel.startswith("metadata/")
    write("iceberg_metadata", "tricky.bin", table_input("default.db/tricky", in_metadata))
    write("iceberg_metadata", "customers.bin", table_input("default.db/customers", in_metadata))
    write("iceberg_metadata", "customers-hint.bin",
          table_input("default.db/customers", in_metadata)
          + b"\x19metadata/version-hint.text" + struct.pack("<I", 1) + b"3")
    in_log = lambda rel: rel.startswith("_delta_log/")
    write("delta_actions", "sales.bin", table_input("delta/sales", in_log))
    # events_log from its checkpoint on (version 14), so the seed stays small.
    old_commit = lambda rel: rel.startswith("_delta_log/000000000000000000") and rel.endswith(".json") \
        and int(rel[11:31]) < 14
    write("delta_actions", "events-checkpoint.bin", table_input("delta/events_log", in_log, old_commit))


if __name__ == "__main__":
    main()
