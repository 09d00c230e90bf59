"""Hydra configuration shipped with ohgw."""
