"""A back-off for client addresses that keep sending wrong passwords (pure: time is passed in).

Once an address has sent ``free`` recent wrong passwords, each further one shuts it out for a
while: ``first`` seconds, doubling with each failure up to ``longest``; while shut out, its
requests are answered 429 without a bcrypt check, so a flood of guesses from a few addresses
costs the server almost nothing and real logins from elsewhere go straight to the check. A
success, or ``forget_after`` quiet seconds, clears the address. At most ``capacity`` addresses
are tracked (the least recently seen are forgotten first), so the table cannot grow without end.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Strikes:
    failures: int
    last: float
    until: float


@dataclass(slots=True)
class FailedLogins:
    """Recent wrong passwords per client address, and when each may try again."""

    free: int = 3
    first: float = 1.0
    longest: float = 60.0
    forget_after: float = 600.0
    capacity: int = 10_000
    _addresses: OrderedDict[str, _Strikes] = field(default_factory=OrderedDict)

    def wait(self, address: str, now: float) -> float:
        """Return the seconds ``address`` must still wait before its password is checked."""
        strikes = self._addresses.get(address)
        if strikes is None:
            return 0.0
        if now - strikes.last > self.forget_after:
            del self._addresses[address]
            return 0.0
        return max(0.0, strikes.until - now)

    def failed(self, address: str, now: float) -> None:
        """Note a wrong password from ``address`` at ``now``."""
        strikes = self._addresses.pop(address, None)
        if strikes is None or now - strikes.last > self.forget_after:
            strikes = _Strikes(0, now, now)
        strikes.failures += 1
        strikes.last = now
        beyond = strikes.failures - self.free
        if beyond >= 0:
            strikes.until = now + min(self.longest, self.first * 2.0 ** min(beyond, 32))
        self._addresses[address] = strikes
        while len(self._addresses) > self.capacity:
            self._addresses.popitem(last=False)

    def succeeded(self, address: str) -> None:
        """Forget ``address``'s failures: it knows a password."""
        self._addresses.pop(address, None)
