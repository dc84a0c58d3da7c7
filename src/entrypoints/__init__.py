"""Entry points: Litestar API and dashboard, the `treasury` CLI, the scheduler, the container."""
