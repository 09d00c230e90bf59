"""Analysis of a study: the paper's metrics, paired statistics, figures and the report."""
