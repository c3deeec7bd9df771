"""``python -m maskgen.assets``: redraw the shipped templates and textures, or check them.

Without ``--check`` the files are written into the source tree's ``templates/`` and
``textures/`` (or ``--templates`` / ``--textures``). With ``--check`` they are drawn into a
temporary folder and compared byte for byte with the shipped ones (the copies in an installed
wheel, else the source tree's); the exit status is 1, naming each file, if any differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from maskgen.assets import differing_files, draw_assets, source_tree_dirs
from maskgen.masks.templates import default_templates_dir
from maskgen.masks.textures import default_textures_dir


def main(argv: list[str] | None = None) -> int:
    templates, textures = source_tree_dirs()
    parser = argparse.ArgumentParser(prog="python -m maskgen.assets", description=__doc__)
    parser.add_argument("--templates", type=Path, default=templates, help="output folder")
    parser.add_argument("--textures", type=Path, default=textures, help="output folder")
    parser.add_argument("--check", action="store_true", help="compare with the shipped files")
    args = parser.parse_args(argv)
    if not args.check:
        written = draw_assets(args.templates, args.textures)
        print(f"wrote {len(written)} files to {args.templates} and {args.textures}")
        return 0
    with tempfile.TemporaryDirectory(prefix="maskgen-assets-") as tmp:
        fresh = Path(tmp)
        draw_assets(fresh / "templates", fresh / "textures")
        differ = [
            f"{shipped / name}"
            for shipped, drawn in (
                (default_templates_dir(), fresh / "templates"),
                (default_textures_dir(), fresh / "textures"),
            )
            for name in differing_files(shipped, drawn)
        ]
    for path in differ:
        print(f"differs from what maskgen.assets draws: {path}", file=sys.stderr)
    if not differ:
        print("templates and textures: byte-identical to what maskgen.assets draws")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
