"""The engine: reading live state, planning, and applying plans."""
