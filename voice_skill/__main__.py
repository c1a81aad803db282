"""`python -m voice_skill` and the `voice-skill` command: a small door before the rest.

Importing the skill takes about half a second (numpy, the engines' libraries). Ctrl-C in that
time, or a memory limit that the libraries cannot start under, end here with one line and the
usual exit status (130 for Ctrl-C), not a traceback.
"""

import os
import sys

MEMORY = ("voice-skill: could not get the memory it needs to start ({why}); is a memory limit"
          " set (ulimit -v)?")


def main() -> int:
    """Run the command line; Ctrl-C or too little memory while starting is one line."""
    _fit_memory_limit()
    try:
        from voice_skill.front.cli import main as command

        return command()
    except KeyboardInterrupt:
        _say("voice-skill: interrupted while starting")
        return 130
    except MemoryError:
        _say(MEMORY.format(why="out of memory"))
        return 1
    except ImportError as exc:  # a library's file cannot be mapped into memory, or is missing
        text = str(exc)
        if "map segment" in text or "allocate memory" in text:
            _say(MEMORY.format(why=text.splitlines()[-1].removeprefix("Original error was: ")[:200]))
        else:
            _say(f"voice-skill: cannot start: {text.splitlines()[-1][:300] if text else exc!r};"
                 " bin/setup installs what is needed")
        return 1


def _fit_memory_limit() -> None:
    """Under an address-space limit (ulimit -v), OpenBLAS's threads at numpy's import cannot
    get their buffers, and it raises SIGINT in the middle of the import: one thread fits. It
    must be set before numpy is imported; without a limit nothing changes."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _say(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # no stderr: the exit status says it
        pass


if __name__ == "__main__":
    raise SystemExit(main())
