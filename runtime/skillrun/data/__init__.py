"""Dataset utilities: synthetic SDG-style data generation for tests, quickstart and benchmarks."""
