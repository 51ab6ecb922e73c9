# The LoGo adapter tests' fixtures: the fake server, a state database, the manifest, the real engine.
from tests.adapters.logo.conftest import kb_dir, manifest, real_engine, server  # noqa: F401
