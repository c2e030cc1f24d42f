"""Runs a command as if the disk filled up after BYTES bytes of any one file.

Usage: limit_file_size.py BYTES COMMAND [ARG...]

RLIMIT_FSIZE makes a write past BYTES fail with EFBIG, as ENOSPC would on a
full disk, without needing root to mount a small file system. SIGXFSZ, which
would otherwise kill the process, is ignored so that the program sees the
failing write and must handle it.
"""
import os
import resource
import signal
import sys

limit = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
os.execvp(sys.argv[2], sys.argv[2:])
