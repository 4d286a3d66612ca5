"""The REST + event-stream API (API.md): a route registry, resources, and the OpenAPI document."""
