"""The Slurm app's configuration (``python -m ohgw.slurm``)."""
