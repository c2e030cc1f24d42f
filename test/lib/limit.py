"""Runs a command under a resource limit, to stand in for a full disk or an
exhausted memory without root.

Usage: limit.py file-size|address-space BYTES COMMAND [ARG...]

file-size (RLIMIT_FSIZE) makes a write past BYTES fail with EFBIG, as ENOSPC
would on a full disk; SIGXFSZ, which would otherwise kill the process, is
ignored so that the program sees the failing write and must handle it.
address-space (RLIMIT_AS) makes any allocation past BYTES of virtual memory
fail, whatever the machine's memory and overcommit policy.
"""
import os
import resource
import signal
import sys

kind, limit = sys.argv[1], int(sys.argv[2])
if kind == "file-size":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
elif kind == "address-space":
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
else:
    sys.exit(f"limit.py: unknown limit '{kind}'")
os.execvp(sys.argv[3], sys.argv[3:])
