"""A progress line for work that blocks (a compiler run): shown on a terminal only,
and only once the work has taken longer than a second."""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm


@contextmanager
def progress_while(description: str, delay: float = 1.0, stream=None) -> Iterator[None]:
    """Show ``description`` and the elapsed time on ``stream`` (standard error) while
    the block runs, from ``delay`` seconds on; silent when ``stream`` is not a terminal."""
    stream = sys.stderr if stream is None else stream
    if not (hasattr(stream, "isatty") and stream.isatty()):
        yield
        return
    done = threading.Event()

    def show() -> None:
        if done.wait(delay):
            return
        with tqdm(total=None, desc=description, bar_format="{desc} {elapsed}", file=stream,
                  leave=False) as bar:
            while not done.wait(0.25):
                bar.refresh()

    thread = threading.Thread(target=show, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
