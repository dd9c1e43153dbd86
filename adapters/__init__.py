"""Systems: one module per system, registered in ``harness.systems.SYSTEMS``."""
