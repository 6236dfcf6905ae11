"""Where user code called into pyautograd: used to name the line behind a verify-mode report."""
from __future__ import annotations

import os
import sys
from typing import Optional

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_site() -> Optional[str]:
    """'file:line' of the innermost frame outside the pyautograd package, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        if not os.path.abspath(frame.f_code.co_filename).startswith(PACKAGE_DIR + os.sep):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None
