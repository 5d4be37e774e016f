"""One updating stderr line while a long compile runs: stage, step n/m, elapsed seconds.

compile() shows it only when stderr is a terminal and the compile has taken longer than
`THRESHOLD_SECONDS`; `compile(..., quiet=True)` turns it off. The JIT compiles the whole
model as one LLVM module, so its stage is "llvm codegen": there is no per-kernel count
to show (or time to keep) without splitting the module.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

THRESHOLD_SECONDS = 2.0
"""A compile shorter than this shows nothing (most compiles; a progress line that flashes
up and vanishes is noise)."""

REDRAW_SECONDS = 0.25

_CLEAR = "\r\x1b[K"  # back to column 0, erase to the end of the line


def model_label(model: object) -> str:
    """A short name for the model being compiled: a path's file name, else its kind."""
    if isinstance(model, str | os.PathLike):
        return os.path.basename(os.fspath(model)) or os.fspath(model)
    return type(model).__name__


class Progress:
    """The progress line of one compile; inert unless `enabled` and the stream is a TTY.

    `step(name)` starts the next stage. A daemon thread redraws the line every
    REDRAW_SECONDS so the elapsed time moves during a long stage (LLVM releases the GIL
    while it generates code); `close()` stops it and erases the line.
    """

    def __init__(self, label: str, total: int, *, enabled: bool = True,
                 stream: TextIO | None = None):
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and _is_terminal(self.stream)
        self.start = time.perf_counter()
        self.done = 0
        self.stage = "starting"
        self.shown = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._thread = threading.Thread(target=self._tick, name="kiln-progress",
                                            daemon=True)
            self._thread.start()

    def step(self, stage: str) -> None:
        """Begin the next stage (a pass name, "import", "llvm codegen")."""
        if not self.enabled:
            return
        with self._lock:
            self.done += 1
            self.stage = stage
        self._draw()

    def line(self) -> str:
        """The text of the line now (without the terminal control characters)."""
        elapsed = time.perf_counter() - self.start
        count = f"{min(self.done, self.total)}/{self.total}"
        return f"kiln: compiling {self.label} [{count}] {self.stage}, {elapsed:.1f} s"

    def close(self) -> None:
        """Stop redrawing and erase the line (if one was shown)."""
        if not self.enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self.shown:
                self._write(_CLEAR)
            self.enabled = False

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            if not self.enabled or self._stop.is_set():
                return
            if time.perf_counter() - self.start < THRESHOLD_SECONDS:
                return
            self._write(_CLEAR + self.line())
            self.shown = True

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: stop, never fail a compile
            self.enabled = False


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
