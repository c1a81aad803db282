"""`voice-skill bench`: accuracy, speed and footprint measured on this machine, written to docs/.

The parent process measures accuracy and red-flag recall (`decode`, in a pool of processes);
everything timed or sized runs in fresh worker subprocesses (`workers`, `startup`), once on the
whole machine and once confined to one CPU core with `taskset -c 0` (a Raspberry-Pi-like run).
`report` turns the saved JSON into the markdown report, and nothing else.
"""
