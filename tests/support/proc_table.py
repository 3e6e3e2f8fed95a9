"""Print `pid|ppid|command line` for every process, read from /proc: run inside a container
(the images have no ps). See stack.gunicorn_processes."""

import os

for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/cmdline") as cmdline:
            ppid = stat.read().rsplit(")", 1)[1].split()[1]
            command = cmdline.read().replace("\0", " ")
    except OSError:
        continue
    print(f"{pid}|{ppid}|{command}")
