"""What every process the suite starts for itself shares: it ends with its starter."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal


def die_with_parent(signum: int = signal.SIGTERM):
    """A ``preexec_fn`` asking Linux to send ``signum`` to the child when the
    process that started it dies, however it dies (a run killed with -9, a CI
    job's time limit): its children must not hold on to ports and queues.
    None elsewhere, where nothing is asked."""
    path = ctypes.util.find_library("c")
    if not path or os.uname().sysname != "Linux":
        return None
    prctl = ctypes.CDLL(path, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()
    set_pdeathsig = 1  # PR_SET_PDEATHSIG

    def preexec():
        prctl(set_pdeathsig, int(signum), 0, 0, 0)
        if os.getppid() != parent:  # it died before the request took effect
            os._exit(1)
    return preexec
