"""Journey tables (definitions, customers, enrollments, steps, slips)."""
