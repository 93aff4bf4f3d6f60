"""What the Snakemake report shows beyond the raw files: figures (:mod:`~locomimic.report.plots`) and
self-contained HTML pages (:mod:`~locomimic.report.pages`) for the video gallery and the metrics table.
"""
