import sys

from .. import allocator

# `python -m frameloom.cli` is a process start like the `frameloom` command (frameloom.launcher):
# re-run with the allocator settings before torch is imported. Not in main(), which Python
# callers (tests, scripts) call in their own processes.
allocator.reexec_with_tunables()

from . import main  # noqa: E402

sys.exit(main())
