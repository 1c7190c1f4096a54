"""The headless commands: `diffstudio COMMAND`, and the window when no command is given. Tests and benchmarks
drive the app through them; the parser is in parser.py, the commands in commands.py and train.py, what starts
processes and windows in launch.py.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager

from diffstudio.cli.launch import open_gui
from diffstudio.cli.parser import build_parser
from diffstudio.core.cpu_threads import let_waiting_threads_sleep, use_cpu_threads
from diffstudio.core.errors import DiffstudioError, RunFileWarning


def main(argv: list[str] | None = None) -> int:
    let_waiting_threads_sleep()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", None) is not None:
        try:
            use_cpu_threads(args.threads)
        except DiffstudioError as e:
            parser.error(f"--threads: {e}")
    if args.self_test:
        from diffstudio.gui.self_test import self_test

        return self_test()
    if args.command is None:
        return open_gui(parser)
    try:
        with run_file_warnings_as_notes():
            args.handler(args)
    except DiffstudioError as e:
        print(f"diffstudio {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ndiffstudio {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a file or folder the command could not read or write
        where = f" ({e.filename})" if e.filename else ""
        print(f"diffstudio {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
        if type(e).__name__ == "DistBackendError":  # a rank of a distributed run stopped; it says why
            print(f"diffstudio {args.command}: error: another process of this run stopped (its message says why): "
                  f"{str(e).splitlines()[0]}", file=sys.stderr)
            return 2
        if not isinstance(e, MemoryError) and "out of memory" not in str(e).lower():
            raise
        print(f"diffstudio {args.command}: error: out of memory: use a smaller --batch, or --device cpu",
              file=sys.stderr)
        return 2
    return 0


@contextmanager
def run_file_warnings_as_notes():
    """A RunFileWarning (a run file holds fields this version does not know) as one "note:" line on stderr; other
    warnings as Python shows them."""
    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, RunFileWarning):
            print(f"note: {message}", file=sys.stderr)
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    raise SystemExit(main())
