"""The SYNTHETIC sample generator: labeled sets whose answers are known by construction."""
