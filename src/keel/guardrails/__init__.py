"""Guardrails: checks on what enters and leaves a run — PII, prompt injection, topic,
output filters — attached through `keel.middleware`."""
