"""The kernel every context builds on, knowing nothing of HTTP or workers.

Database engine and transactions (``db``), time-ordered ids (``ids``), errors and their
kinds (``errors``), organisation scoping (``tenancy``), keyset paging (``pagination``),
logging (``logs``), the clock (``clock``), background-job isolation (``isolation``), and
the identity context: organisations, staff users, API keys (``tables``, ``identity``)
and idempotency records (``idempotency``).
"""
