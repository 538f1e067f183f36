"""The service edge: faust app, agents, settings, logging, CLI. No business rules here."""
