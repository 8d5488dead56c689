"""An Omnibus-shaped folder tree over the running lab, for `runbook discover --root`.

Omnibus keeps its files at fixed places (`/etc/gitlab/gitlab.rb`, `/var/opt/gitlab/registry/config.yml`,
...). The lab lays those paths out under ``<state_dir>/omnibus-root`` as symlinks to the files it really
runs with, so discovery is tested on the real file formats, live logs included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .control import Lab

# Omnibus path (relative to /) -> lab path (relative to the state dir)
LAYOUT = {
    "etc/gitlab/gitlab.rb": "gitlab/gitlab.rb",
    "var/opt/gitlab/registry/config.yml": "registry/config.yml",
    "var/opt/gitlab/gitlab-rails/etc/gitlab.yml": "gitlab/gitlab.yml",
    "var/opt/gitlab/nginx/conf/gitlab-registry.conf": "nginx/conf.d/gitlab-registry.conf",
    "var/log/gitlab/registry": "logs/registry",
    "var/log/gitlab/gitlab-rails": "logs/gitlab-rails",
    "var/log/gitlab/nginx": "logs/nginx",
}


def root_path(lab: "Lab") -> Path:
    return lab.state_dir / "omnibus-root"


def write_omnibus_root(lab: "Lab") -> Path:
    """(Re)make the tree; a lab path that does not exist (a component not started) is left out."""
    root = root_path(lab)
    for omnibus, ours in LAYOUT.items():
        link = root / omnibus
        target = lab.state_dir / ours
        if link.is_symlink() or link.exists():
            link.unlink()
        if not target.exists():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    return root
