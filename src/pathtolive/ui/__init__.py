"""The HTML faces of pathtolive: the pages people read.

Every page is rendered from the Jinja2 templates in ``ui/templates/`` through one
environment (:mod:`pathtolive.ui.templates`, escaping always on), so the static files
written by the CLI and the demo and the web console share their stylesheets, their
charts (:mod:`pathtolive.ui.charts`) and the partials that draw drift, the metric over
time, alerts and the model card (:mod:`pathtolive.ui.partials`). A page takes the typed
data a service returned and nothing else: it never reaches the store.

- :func:`monitoring_report_html`: the monitoring report of ``pathtolive monitor --report``;
- :func:`model_card_html` and :func:`model_card_markdown`: the model card of
  ``pathtolive models card``.
"""

from pathtolive.ui.card import model_card_html, model_card_markdown
from pathtolive.ui.monitoring import monitoring_report_html

__all__ = ["model_card_html", "model_card_markdown", "monitoring_report_html"]
