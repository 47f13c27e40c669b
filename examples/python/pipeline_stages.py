#!/usr/bin/python3
"""A pipeline of stages, each where it runs best: "fetch" waits (threads, many at once), "parse"
computes (worker processes), then results are written in batches. report() shows what each stage
did. Run: PYTHONPATH=build/release/python /usr/bin/python3 examples/python/pipeline_stages.py"""

import hashlib
import sys
import time

import parmill


def fetch(url):  # stands for a download: it waits, and holds no GIL while it does
    time.sleep(0.002)
    return url.encode() * 200


def parse(page):  # stands for CPU work: it holds the GIL, so it runs in worker processes
    return hashlib.sha256(page).hexdigest()[:12]


def main():
    urls = (f"https://example.org/page/{n}" for n in range(400))  # read lazily, as the stages need them
    pages = (parmill.pipeline()
             .source(urls)
             .pipe(fetch, concurrency=16, name="fetch", backend=parmill.threads())
             .pipe(parse, name="parse", backend=parmill.processes(2))
             .batch(50)
             .build(parmill.threads(2)))
    written = 0
    with pages:
        for batch in pages:  # lists of 50 digests, in input order
            written += len(batch)
    print(pages.report(), file=sys.stderr)
    stages = {s.name: s for s in pages.report().stages}
    assert written == 400 and stages["fetch"].items_out == 400 and stages["parse"].items_out == 400
    print(f"{written} pages fetched, parsed and written in batches of 50")


if __name__ == "__main__":
    main()
