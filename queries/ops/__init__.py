"""Operations behind jobs and commands: job bookkeeping, maintenance, seeding and benchmarks."""
