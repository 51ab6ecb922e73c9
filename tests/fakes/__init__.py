"""Local fakes of external services (mock HTTP APIs) for tests."""
