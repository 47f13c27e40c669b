#!/usr/bin/python3
"""Converts many files on worker processes with a progress bar; a file that makes its converter
crash costs that file only, and is reported.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/convert_files.py [files]
"""

import gzip
import os
import sys
import tempfile

import parmill


def convert(path):
    """Compresses one file next to itself; a file named 'poison' crashes its worker."""
    if os.path.basename(path).startswith("poison"):
        os.abort()  # a converter that dies (a segfault in a C library, say)
    with open(path, "rb") as source, gzip.open(path + ".gz", "wb") as target:
        target.write(source.read())
    return os.path.getsize(path + ".gz")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(count):
            name = "poison 1.txt" if i == count // 2 else f"sample {i}.txt"
            path = os.path.join(folder, name)
            with open(path, "w") as f:
                f.write(f"line {i}\n" * 200)
            paths.append(path)
        converted, failed = 0, []
        with parmill.map(convert, paths, backend=parmill.processes(2), progress="files",
                         on_error="yield", timeout=60) as results:
            for result in results:
                if isinstance(result, parmill.ItemFailed):
                    failed.append(result)
                else:
                    converted += 1
        print(f"converted {converted} of {count} files; {len(failed)} failed")
        for failure in failed:
            print(f"  {os.path.basename(paths[failure.index])}: {failure.kind}")
        assert converted == count - 1 and [f.kind for f in failed] == ["crashed"]


if __name__ == "__main__":
    main()
