"""``harness leaderboard``: a static, self-contained site of a runs folder (main tables with corrected significance
marks, statistics, per-dataset pages with per-query drill-down, the reproduction view of published tables,
provenance, downloads).

``model`` computes what the pages show through the compare ``Report`` (one route, no numbers of its own); ``site``
renders it through the Jinja2 templates of ``leaderboards/templates/site`` and writes the folder. (The installed
data package ``harness.leaderboards`` is the repository's ``leaderboards/`` folder: templates and published tables.)
"""

from .model import SiteOptions, build_model
from .site import BuiltSite, build_site

__all__ = ["BuiltSite", "SiteOptions", "build_model", "build_site"]
