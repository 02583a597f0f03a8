"""`python -m minidl`: the `minidl` command (see minidl/cli.py)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
