#!/usr/bin/env python3
"""Writes the small archives in this folder: valid ZIPs whose members use compression
methods lakezip refuses by design. The third-party corpora have these only as
multi-megabyte files (zip2's lzma.zip and deflate64.zip), so they are made here.

Usage: python3 testdata/corpus/made/make.py      (rewrites the .zip files beside it)

Deterministic: fixed member times, and Python's bz2/lzma compressors are deterministic.
"""
import os
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATE = (2024, 1, 1, 0, 0, 0)
TEXT = b"lakezip refuses members it cannot decode.\n" * 20


def write(name, method):
    path = os.path.join(HERE, name)
    with zipfile.ZipFile(path, "w") as z:
        plain = zipfile.ZipInfo("plain.txt", DATE)
        plain.compress_type = zipfile.ZIP_STORED
        plain.external_attr = 0o100644 << 16
        z.writestr(plain, b"stored member first\n")
        info = zipfile.ZipInfo("packed.txt", DATE)
        info.compress_type = method
        info.external_attr = 0o100644 << 16
        z.writestr(info, TEXT)


def relabel(name, method):
    """Rewrites every header's compression method of a stored archive (deflate64 has no
    Python writer; the reader refuses by method number before decoding anything)."""
    path = os.path.join(HERE, name)
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("packed.txt", DATE)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o100644 << 16
        z.writestr(info, TEXT)
    data = bytearray(open(path, "rb").read())
    for signature, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(signature)
        while at >= 0:
            struct.pack_into("<H", data, at + method_at, method)
            at = data.find(signature, at + 4)
    open(path, "wb").write(bytes(data))


write("bzip2.zip", zipfile.ZIP_BZIP2)
write("lzma.zip", zipfile.ZIP_LZMA)
relabel("deflate64.zip", 9)
