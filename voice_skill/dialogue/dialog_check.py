"""Properties of a loaded dialogue that make it safe to run: reachability, endings, red flags, voice rules."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voice_skill.dialogue.dialog import RESUME, Dialog, State

MAX_WORDS_PER_SENTENCE = 20
"""The voice rule: one idea per sentence, at most about 20 words."""


@dataclass(frozen=True)
class Problem:
    """One property that does not hold, located in the file."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} [{self.field}]: {self.message}"


def edges(d: Dialog) -> dict[str, set[str]]:
    """Where each state can go. An urgent escalation is folded into the red flag that raised it,
    so "@resume" leads back to that red flag's "no" (which is what happens at run time)."""
    out: dict[str, set[str]] = {}
    for s in d.states.values():
        targets = set(s.targets().values())
        if s.red_flag and s.red_flag.level == "urgent":
            esc = d.states[s.on["yes"]]
            targets |= {t for t in esc.targets().values() if t != RESUME}
            targets.add(s.on["no"])
        out[s.name] = {t for t in targets if t != RESUME}
    return out


def _terminal(s: State) -> bool:
    return s.kind == "final" or (s.kind == "escalation" and s.level == "emergency")


def check(d: Dialog) -> list[Problem]:
    """Every property of the graph and of the wording that the loader does not already enforce."""
    problems: list[Problem] = []

    def add(s: State, fld: str, message: str) -> None:
        problems.append(Problem(str(d.path), s.line, f"states.{s.name}.{fld}", message))

    graph = edges(d)
    emergency = [s.name for s in d.states.values() if _terminal(s) and s.kind == "escalation"]

    # reachable from the start (every state also reaches the emergency state by "help")
    seen, todo = set(), [d.start, *emergency]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    for s in d.states.values():
        if s.name not in seen:
            add(s, "name", "unreachable: no path from the start leads here")

    # no dead ends, and an ending is reachable from everywhere
    ends = {s.name for s in d.states.values() if _terminal(s)}
    if not any(d.states[e].kind == "final" for e in ends):
        problems.append(Problem(str(d.path), 1, "states", "no final state: a session cannot complete"))
    # backwards from the endings, once over each edge (a chain of thousands of states is
    # checked in linear time)
    sources: dict[str, list[str]] = {name: [] for name in graph}
    for name, targets in graph.items():
        for t in targets:
            sources[t].append(name)
    can_end, todo = set(ends), list(ends)
    while todo:
        for name in sources[todo.pop()]:
            if name not in can_end:
                can_end.add(name)
                todo.append(name)
    for s in d.states.values():
        if not _terminal(s) and not graph[s.name]:
            add(s, "on", "dead end: no way out of this state")
        elif s.name not in can_end:
            add(s, "on", "no path from here reaches an ending")

    # every path ends: with the visit-limited edges cut, no cycle is left
    limited = {s.name for s in d.states.values() if s.max_visits}
    cyclic = _cycle(
        {n: {t for t in ts if t not in limited} for n, ts in graph.items()}
    )
    if cyclic:
        add(d.states[cyclic[0]], "on",
            "loop without a bound: " + " -> ".join(cyclic) + " (give one state max_visits)")

    for s in d.states.values():
        if s.is_question:
            if not re.search(r"\bsay\b", s.ask or "", re.IGNORECASE):
                add(s, "ask", "a question must say how to answer (\"Say yes or no.\")")
            if not s.reprompts:
                add(s, "reprompts", "a question needs at least one simpler re-prompt")
        instructs = s.kind in ("say", "timed", "escalation", "final") or bool(s.say)
        if instructs and not s.source:
            add(s, "source", "an instruction must name its source")
        for fld, text in _texts(s):
            for sentence in re.split(r"(?<=[.?!])\s+", text):
                if len(sentence.split()) > MAX_WORDS_PER_SENTENCE:
                    add(s, fld, f"sentence of {len(sentence.split())} words (at most "
                                f"{MAX_WORDS_PER_SENTENCE}): {sentence[:50]!r}...")
        if s.kind == "escalation" and s.level == "emergency" and not any(
                "{emergency_number}" in t for t in s.say):
            add(s, "say", "an emergency must tell the person to call {emergency_number}")
        if s.red_flag and len(s.reprompts) < 1:
            add(s, "reprompts", "a red-flag question needs a simpler wording to confirm with")
    return problems


def _texts(s: State) -> list[tuple[str, str]]:
    out = [(f"say.{i}", t) for i, t in enumerate(s.say)]
    out += [(f"reprompts.{i}", t) for i, t in enumerate(s.reprompts)]
    out += [(f"cues.{i}", c.text) for i, c in enumerate(s.cues)]
    if s.ask:
        out.append(("ask", s.ask))
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle in `graph` as a path (first == last), or [] when there is none.

    A depth-first search with its own stack: recursion would fail on a long chain of states.
    """
    colour: dict[str, int] = {}  # 1: on the path now, 2: done
    for root in sorted(graph):
        if root in colour:
            continue
        colour[root] = 1
        path = [root]
        branches = [iter(sorted(graph.get(root, ())))]
        while branches:
            t = next(branches[-1], None)
            if t is None:
                colour[path.pop()] = 2
                branches.pop()
            elif colour.get(t) == 1:
                return [*path[path.index(t):], t]
            elif t not in colour:
                colour[t] = 1
                path.append(t)
                branches.append(iter(sorted(graph.get(t, ()))))
    return []
