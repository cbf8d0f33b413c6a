"""Customers: who co-produces the service, how to reach them, and what they agreed to.

``normalize`` checks contact data (pure); ``records`` creates, changes and finds customers;
``consent`` keeps the append-only consent history and answers "may we contact them?";
``privacy`` holds the journeys' part of a customer's export and erasure.
"""
