"""Local emulators of X, Meta and Twilio that speak their real wire formats (signatures included),
keep what they received for tests, and take commands through a small control API (``/_control``)."""
