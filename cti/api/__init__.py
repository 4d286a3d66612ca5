"""The REST + event-stream API (docs/api.md): a route registry, resources, and the OpenAPI document."""
