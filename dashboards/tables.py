"""Dashboard tables (countermeasures, service standards)."""
