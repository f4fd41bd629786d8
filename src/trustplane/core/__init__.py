"""The small kernel every capability uses: config, errors, store, transparency log, models, jobs."""
