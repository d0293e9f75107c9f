"""Human ratings of a run's images: a blinded local rating page, the ratings store, CSV in and out.

``actionbench rate RUN_DIR`` serves the page (:mod:`.server`) over a study of the run's images
(:mod:`.study`: blind ids, sampling, order); answers go, one JSON line each, into
``RUN_DIR/ratings/<rater>.jsonl`` (:mod:`.store`); :mod:`.csvio` exports and imports them as CSV.
``actionbench report`` reads them back (``actionbench.reports.human``). Formats: ``docs/ratings.md``.
"""
