"""Command-line tools: ``python -m gan_helpers.tools.nbexec`` (run a notebook with papermill),
``.normalize`` (re-execute a committed notebook on its defaults and strip run metadata),
``.reproduce`` (``make reproduce``: every notebook into ``runs/<timestamp>/`` and ``REPORT.md``),
``.report`` (the report builders)."""
