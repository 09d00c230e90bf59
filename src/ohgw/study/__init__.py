"""Studies: variants, paired seeds, clocks, budgets and the store."""
