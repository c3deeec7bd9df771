"""Create-if-absent for files several processes may race to write (the plan, shard markers).

Other atomic writes reuse :mod:`maskgen.atomic`.
"""

from __future__ import annotations

import os
from pathlib import Path

from maskgen.atomic import discard_temporary, temp_path_beside


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it already exists; True if this call created it.

    Complete or absent, never half-written: the data goes to a temporary file that is then
    hard-linked to ``path`` (atomic create-if-absent, also on network file systems), so shards
    starting together cannot both claim it. Falls back to a rename where links are unsupported.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # file systems without hard links
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        discard_temporary(tmp)
