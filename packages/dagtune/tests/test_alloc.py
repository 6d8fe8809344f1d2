"""The CPU training allocator switch: freed memory stays while it is on, and goes back to the kernel after."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the switch tunes glibc's malloc only")

# A child process: RSS is the process's own, not the test runner's (whose heap other tests have shaped).
PROBE = """
import sys
from dagtune._alloc import keep_freed_memory

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def churn():
    block = bytearray(256 * 1024 * 1024)  # zeroed, so every page is touched
    del block

start = rss_mib()
churn()
outside = rss_mib() - start
with keep_freed_memory() as changed:
    churn()
    inside = rss_mib() - start
after = rss_mib() - start
print(changed, round(outside), round(inside), round(after))
"""


def test_freed_memory_stays_inside_and_is_returned_after() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    changed, outside, inside, after = done.stdout.split()
    assert changed == "True"
    assert int(outside) < 64, "glibc's default gives a freed 256 MiB block back at once"
    assert int(inside) > 192, "inside the switch a freed block stays with the process"
    assert int(after) < 64, "leaving the switch trims the heap"


def test_disabled_switch_changes_nothing() -> None:
    from dagtune._alloc import keep_freed_memory

    with keep_freed_memory(enabled=False) as changed:
        assert changed is False
