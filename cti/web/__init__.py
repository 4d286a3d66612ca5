"""Pages for people: the agent desktop and the supervisor wallboard (jinja2 + plain JavaScript,
no CDN). They are thin: everything they show comes from the public API and the event stream."""
