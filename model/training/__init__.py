"""Everything that trains, evaluates, scores and exports generators. Never imported by the web app nor by
the inference modules; `heirloom train`, `evaluate` and `export` import it when they run."""
