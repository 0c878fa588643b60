#!/usr/bin/env python3
"""Extract every member under PREFIX/ of a remote ZIP with remotezip, the way its README
shows it: RemoteZip(url) and ZipFile.extract per member.

    remotezip_extract.py URL PREFIX DESTDIR

Prints one line: "members N bytes B".
"""

import sys

from remotezip import RemoteZip


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    url, prefix, dest = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
    members = 0
    size = 0
    with RemoteZip(url) as zf:
        for info in zf.infolist():
            if info.filename.startswith(prefix) and not info.is_dir():
                zf.extract(info, dest)
                members += 1
                size += info.file_size
    if members == 0:
        sys.exit(f"no member under {prefix}")
    print(f"members {members} bytes {size}")


if __name__ == "__main__":
    main()
