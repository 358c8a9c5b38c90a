"""Progressive delivery: canary state, the pure decision, metric providers, the runner."""
