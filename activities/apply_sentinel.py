"""A detached watcher that runs one `terraform apply` and records how it ended.

    python -m activities.apply_sentinel RC_FILE LOG_FILE BINARY ARG...

It runs in its own session, so a worker killed with SIGKILL does not take the
apply down half-way. Terraform's output goes to LOG_FILE; its exit code is
written to RC_FILE (atomically) when it ends. A worker retrying the activity
waits for RC_FILE instead of applying the same plan a second time.
SIGINT/SIGTERM are forwarded to terraform, which then stops gracefully.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    rc_file, log_file, *command = argv
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def forward(signum: int, _frame: object) -> None:
            proc.send_signal(signal.SIGINT if signum == signal.SIGTERM else signum)

        # The group SIGINT from a cancel reaches terraform directly; do not die of it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, forward)
        rc = proc.wait()
    tmp = Path(rc_file + ".tmp")
    tmp.write_text(str(rc))
    os.replace(tmp, rc_file)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
