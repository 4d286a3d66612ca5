"""Social listening and priority: which public posts become interactions, how urgent each is
(and why), and which reply mode to suggest. ``settings`` is the ``[social]`` table, ``rules``
the pure decisions, ``screen`` the write-op step that applies them on ingest."""
