"""Wait until a just-started S3 API (moto_server) answers: `python tests/wait_for_s3.py URL`.

Used by `make test-s3` and .ci/run; exits 1 when nothing answers within 30 s.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request


def main(url: str, seconds: float = 30) -> int:
    # No proxy: the server is on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    while True:
        try:
            opener.open(url, timeout=1).close()
            return 0
        except urllib.error.HTTPError:
            return 0  # an S3 error answer: the server is up
        except OSError:
            if time.monotonic() > deadline:
                print(f"No S3 API answered at {url} within {seconds:.0f} s.", file=sys.stderr)
                return 1
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
