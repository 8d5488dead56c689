"""One module per scenario notebook: SCENARIO (its id) and OUTLINE (intro, imports, steps)."""
