"""``pathtolive demo``: the whole path to live on synthetic garage risk-rating data.

- :mod:`pathtolive.demo.garage` draws the data (seeded, its generating process documented);
- :mod:`pathtolive.demo.pipeline` is the training pipeline the demo puts in its workspace;
- :mod:`pathtolive.demo.live` runs the server as a child process and talks to it over HTTP;
- :mod:`pathtolive.demo.story` plays the five acts.
"""

from __future__ import annotations

__all__: list[str] = []
