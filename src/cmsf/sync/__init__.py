"""The sync: its settings and schedule now; the engine, jobs, runs and leases as they land."""
