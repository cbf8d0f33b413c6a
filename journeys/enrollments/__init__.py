"""Enrollments and steps: a customer on a journey version, and the behaviour occurrences due.

``planning`` turns a definition into step rows on a rolling horizon (with the companion
rows ``journeys.hooks`` asks for); ``services`` enrolls, cancels and completes;
``jobs`` holds the scheduler's work on them: refilling the horizon and closing overdue
steps.
"""
