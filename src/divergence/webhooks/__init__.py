"""Signed webhook delivery (Standard Webhooks): endpoints, a durable DuckDB outbox, the
delivery worker, and a local receiver. See docs/_draft_webhooks.md.

Modules: ``signing`` (secrets, headers, verification), ``payloads`` (envelope and JSON
Schemas), ``url_policy`` (outbound address checks), ``endpoints`` (subscriptions and
secrets), ``outbox`` (enqueue, replay, attempt records), ``retry`` (the schedule),
``delivery`` (the worker), ``manager`` (``WebhookService``), ``receiver``.
"""
