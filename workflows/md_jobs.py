"""Former home of the MD Maker's helpers; they live in :mod:`workflows.md.maker` now.

Kept only as a re-export for modules that still import ``workflows.md_jobs``; new code imports
``workflows.md.maker``.
"""

from workflows.md.maker import MDMaker, md_steps, trajectory_path

__all__ = ["MDMaker", "md_steps", "trajectory_path"]
