"""How many agents a volume of contacts needs: Erlang C for contacts that wait in a queue for an
agent to be free (calls, chats), workload for written channels that wait in an inbox.

Erlang C (an M/M/n queue: Poisson arrivals, exponential handle times, nobody gives up) with
``traffic`` = contacts x handle time / interval, in erlangs, and ``n`` agents (``n > traffic``):

- the probability that a contact waits, C(n, A), from Erlang B by its recurrence
  B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1)), then C = n·B / (n - A·(1 - B)) (stable for large n,
  no factorials);
- the service level, the share answered within ``threshold`` seconds: 1 - C·e^(-(n - A)·t / aht);
- the average speed of answer: C·aht / (n - A); the occupancy: A / n.

``erlang_c_staffing`` looks for the fewest agents meeting the service level (and, if given, an
occupancy ceiling); chats handled ``concurrency`` at a time are ``concurrency`` servers per agent.
Shrinkage (breaks, meetings, training: the share of paid time agents are not available) turns the
agents needed on the queue into agents to schedule: ceil(n / (1 - shrinkage)).

``workload_staffing``: for email and social, the work of the interval spread over agents working
``concurrency`` items at a target occupancy. Checked against published values in
tests/test_staffing.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 100_000  # the largest answer (more traffic than this is refused: split the interval)


@dataclass(frozen=True)
class Staffing:
    method: str  # erlang_c | workload
    traffic_erlangs: float
    agents: int  # on the queue, all the time
    scheduled_agents: int  # after shrinkage
    service_level: float | None  # Erlang C only
    asa_seconds: float | None
    wait_probability: float | None
    occupancy: float


def wait_probability(servers: int, traffic: float) -> float:
    """C(n, A): the probability that a contact has to wait (1.0 when the servers cannot keep up)."""
    if servers <= traffic:
        return 1.0
    if traffic <= 0:
        return 0.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = _next_blocking(blocking, k, traffic)
    return _waiting(blocking, servers, traffic)


def _next_blocking(blocking: float, servers: int, traffic: float) -> float:
    """Erlang B for ``servers`` from Erlang B for one server fewer."""
    return traffic * blocking / (servers + traffic * blocking)


def _waiting(blocking: float, servers: int, traffic: float) -> float:
    return servers * blocking / (servers - traffic * (1 - blocking))


def service_level(servers: int, traffic: float, aht: float, threshold: float) -> float:
    """The share of contacts answered within ``threshold`` seconds."""
    if servers <= traffic:
        return 0.0
    return 1 - wait_probability(servers, traffic) * math.exp(-(servers - traffic) * threshold / aht)


def speed_of_answer(servers: int, traffic: float, aht: float) -> float:
    """The average wait before an answer, in seconds (infinite when the servers cannot keep up)."""
    if servers <= traffic:
        return math.inf
    return wait_probability(servers, traffic) * aht / (servers - traffic)


def erlang_c_staffing(contacts: float, interval_seconds: float, aht: float, *, target: float, threshold: float,
                      shrinkage: float = 0.0, concurrency: int = 1, max_occupancy: float | None = None) -> Staffing:
    """The fewest agents that answer ``target`` of the contacts within ``threshold`` seconds. One pass
    of the Erlang B recurrence up the number of servers (linear in the answer); ValueError past
    ``MAX_AGENTS``."""
    traffic = contacts * aht / interval_seconds
    if traffic >= MAX_AGENTS:
        raise ValueError(f"{traffic:.0f} erlangs needs more than {MAX_AGENTS} agents")
    servers, blocking = 0, 1.0
    while True:
        servers += 1
        blocking = _next_blocking(blocking, servers, traffic)
        if servers <= traffic:
            continue
        waiting = _waiting(blocking, servers, traffic) if traffic > 0 else 0.0
        level = 1 - waiting * math.exp(-(servers - traffic) * threshold / aht)
        if (level >= target and (max_occupancy is None or traffic / servers <= max_occupancy)) \
                or servers >= MAX_AGENTS:
            break
    agents = math.ceil(servers / concurrency)
    return Staffing("erlang_c", traffic, agents, _scheduled(agents, shrinkage),
                    service_level(servers, traffic, aht, threshold), speed_of_answer(servers, traffic, aht),
                    wait_probability(servers, traffic), traffic / servers)


def workload_staffing(contacts: float, interval_seconds: float, aht: float, *, concurrency: int = 1,
                      occupancy: float = 0.85, shrinkage: float = 0.0) -> Staffing:
    """Agents to get through the interval's written work at ``occupancy``, ``concurrency`` items at a time."""
    traffic = contacts * aht / interval_seconds
    agents = math.ceil(traffic / (concurrency * occupancy) - 1e-9) if traffic > 0 else 0
    return Staffing("workload", traffic, agents, _scheduled(agents, shrinkage), None, None, None,
                    traffic / (agents * concurrency) if agents else 0.0)


def _scheduled(agents: int, shrinkage: float) -> int:
    return math.ceil(agents / (1 - shrinkage) - 1e-9)
