"""Developer tools (benchmarks, fixtures): beside the runtime, not needed to run the skill."""
