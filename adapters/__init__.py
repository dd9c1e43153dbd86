"""The built-in systems, one module each (imported as ``harness_adapters``; registered as ``harness.systems`` entry
points in pyproject.toml). Each module has a settings dataclass and a system class whose ``retrieve`` returns a run."""
