"""Universal queue and routing: one policy (policy.py), a pure matcher (matcher.py), and the
runtime that keeps waiting work and agents in memory and writes offers (router.py)."""
