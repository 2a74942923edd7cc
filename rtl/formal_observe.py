"""Read-only views of the command processor's internal state, for the formal proofs' invariants.

A proof by k-induction of a property over the analog port or the host link fails on states
the controller never reaches (two engines active at once, a counter outside its range) unless
it is strengthened by invariants over the engines' FSM states and registers. Those are not
ports: :class:`Engines` finds them in the elaborated design (the fragments' FSMs by their
submodule path, registers by name), so the RTL carries no extra logic or ports for the
proofs. A name that is not found (a register renamed in the RTL) is a clear ``LookupError``.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

from amaranth.hdl import Fragment, Signal


@dataclass
class FsmView:
    """One FSM: its state register, its encoding (state name -> value), a name for messages."""

    state: Signal
    encoding: dict
    name: str

    def is_(self, *names):
        """The FSM is in one of the states ``names``."""
        for n in names:
            if n not in self.encoding:
                raise LookupError(f"{self.name}: no state {n!r}")
        return functools.reduce(operator.or_, (self.state == self.encoding[n] for n in names))

    def valid(self):
        """The state register holds one of the FSM's states (not a spare encoding)."""
        return self.state < len(self.encoding)


class Engines:
    """The engines of an elaborated Controller (``ctrl``) and, at the top level, its HostLink
    (``link``, else None)."""

    def __init__(self, ctrl: Fragment, link: Fragment | None):
        self.ctrl_frag, self.link_frag = ctrl, link

    def _frag(self, path, base=None):
        frag = base or self.ctrl_frag
        for part in path:
            frag = frag.find_subfragment(part)
        return frag

    def fsm(self, *path, link: bool = False):
        """The FSM of the engine at ``path`` (submodule names under the Controller, or under
        the HostLink with ``link=True``)."""
        base = self.link_frag if link else self.ctrl_frag
        fsm = self._frag(path, base).generated["fsm"]
        prefix = "link" if link else "controller"
        return FsmView(fsm.state, dict(fsm.encoding), "/".join((prefix, *path)))

    def component(self, *path):
        """The component object (its ports) of the engine at ``path``."""
        return self._frag(path).origins[0]

    def signal(self, path, name, *, link: bool = False):
        """The register ``name`` driven in the engine at ``path`` (a tuple of submodule names)."""
        frag = self._frag(path, self.link_frag if link else None)
        found = list({id(s): s for s in _driven_signals(frag) if s.name == name}.values())
        if len(found) != 1:
            raise LookupError(f"{'/'.join(path) or 'controller'}: {len(found)} signals named "
                              f"{name!r}")
        return found[0]


def _driven_signals(frag):
    """The registers (sync-driven signals) of one fragment."""
    out = []

    def walk(stmts):
        for st in stmts:
            if hasattr(st, "cases"):
                for case in st.cases:
                    walk(case[1])
            elif hasattr(st, "lhs"):
                out.extend(st.lhs._lhs_signals())

    walk(frag.statements.get("sync", ()))  # registers: a port of the same name is comb
    return out
