#!/usr/bin/python3
"""Mailman's bounce detectors (flufl.bounce, Debian's python3-flufl.bounce)
over a directory of messages, for bench/classify.sh: each file parsed with
the standard library's email package, as Mailman does, then
flufl.bounce.scan_message. Prints "flufl.bounce VERSION: N messages, B with
permanent failures (A addresses), E errors".

    /usr/bin/python3 bench/flufl_bench.py MAILDIR/cur
"""
import email
import logging
import os
import sys

import flufl.bounce
from flufl.bounce import scan_message


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: flufl_bench.py DIR")
    # a detector that raises is counted below, not logged to stderr
    logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())
    logging.getLogger("flufl.bounce").propagate = False
    top = sys.argv[1]
    n = bounced = addresses = errors = 0
    for name in os.listdir(top):
        path = os.path.join(top, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f)
        n += 1
        try:
            found = scan_message(msg)
        except Exception:  # pylint: disable=broad-except
            errors += 1
            continue
        if found:
            bounced += 1
            addresses += len(found)
    print(f"flufl.bounce {flufl.bounce.__version__}: {n} messages, {bounced} with permanent "
          f"failures ({addresses} addresses), {errors} errors")


if __name__ == "__main__":
    main()
