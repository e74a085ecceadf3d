"""SSH to a device with asyncssh: host keys checked, every failure turned into a message with its fix.

Host keys are checked against EdgeSlim's own ``known_hosts`` (in the config
folder, where an accepted key is recorded) and the user's ``~/.ssh/known_hosts``.
A host seen for the first time is refused until the user accepts its
fingerprint (``--accept-host-key`` in the CLI); a host whose key changed is
always refused — that is what a man-in-the-middle looks like. Keys come from
``--identity`` or the user's ssh-agent and default keys; no password is used.

The API is asyncio (asyncssh's); :func:`run_sync` runs one coroutine for the
synchronous callers (CLI, worker threads).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Awaitable, Optional, TypeVar

import asyncssh

from core.devices.registry import Device, config_dir
from core.controls import ask
from core.errors import EdgeSlimError
from core.jobs import CancelToken, Cancelled

T = TypeVar("T")
CONNECT_TIMEOUT_S = 15.0


class HostKeyError(EdgeSlimError):
    """The device's host key is unknown (it can be accepted) or changed (it must not be)."""

    def __init__(self, problem: str, fix: str, fingerprint: str, changed: bool) -> None:
        super().__init__(problem, fix)
        self.fingerprint = fingerprint
        self.changed = changed


@dataclass
class CommandResult:
    exit_status: Optional[int]
    stdout: str
    stderr: str


def known_hosts_file() -> Path:
    """EdgeSlim's known_hosts, where accepted host keys are recorded."""
    return config_dir() / "known_hosts"


def _host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _trusted(host: str, addr: str, port: Optional[int]) -> tuple[list, list, list]:
    """Trusted and revoked keys for the host from EdgeSlim's and the user's known_hosts files."""
    trusted: list = []
    revoked: list = []
    for path in (known_hosts_file(), Path("~", ".ssh", "known_hosts").expanduser()):
        if not path.is_file():
            continue
        try:
            found = asyncssh.match_known_hosts(str(path), host, addr, port)
        except (OSError, ValueError, asyncssh.KeyImportError):
            continue  # an unreadable user file does not make a host trusted, nor stop the check
        trusted += list(found[0])
        revoked += list(found[2])
    return trusted, [], revoked


@dataclass
class _HostKeyCheck:
    """What the host-key check saw, so a refusal can say why after asyncssh drops the connection."""

    device: Device
    accept: bool
    seen: Optional[asyncssh.SSHKey] = None
    status: str = "unchecked"  # known | new | changed
    known: list = field(default_factory=list)

    def match(self, host: str, addr: str, port: Optional[int]):
        self.known, ca, revoked = _trusted(host, addr, port)
        self.status = "known" if self.known else "new"
        return self.known, ca, revoked

    def validate(self, key: asyncssh.SSHKey) -> bool:
        """Called for a key that is not in known_hosts."""
        self.seen = key
        if self.known:
            self.status = "changed"
            return False
        self.status = "new"
        return self.accept

    def record(self) -> None:
        """Write an accepted new key to EdgeSlim's known_hosts."""
        if self.status != "new" or self.seen is None:
            return
        path = known_hosts_file()
        kind, blob = self.seen.export_public_key("openssh").decode().split()[:2]
        line = f"{_host_pattern(self.device.host, self.device.port)} {kind} {blob}\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:
            raise EdgeSlimError(f"cannot record the host key in {path} ({exc.strerror or exc})",
                                "make the config folder writable, or set EDGESLIM_CONFIG_DIR") from None

    def refusal(self) -> HostKeyError:
        fp = self.seen.get_fingerprint("sha256") if self.seen is not None else "unknown"
        dev = self.device
        if self.status == "changed":
            return HostKeyError(
                f"the host key of {dev.name} ({dev.address}) has CHANGED: it is now {fp}, not the one recorded; "
                "this is what an attacker in the middle looks like, so the connection was refused",
                f"if the board was reinstalled, delete its line from {known_hosts_file()} "
                f"(or run `ssh-keygen -R {_host_pattern(dev.host, dev.port)}`), then check it again and " + ask("accept_host_key"),
                fp, True)
        return HostKeyError(
            f"{dev.name} ({dev.address}) is not a known host; its key fingerprint is {fp}",
            f"compare the fingerprint with the board's (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it), "
            f"then check {dev.name} again and {ask('accept_host_key')}",
            fp, False)


class _Client(asyncssh.SSHClient):
    def __init__(self, check: _HostKeyCheck) -> None:
        self._check = check

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._check.validate(key)


def _connect_error(device: Device, exc: BaseException, timeout: float) -> EdgeSlimError:
    where = f"{device.name} ({device.address})"
    if isinstance(exc, asyncssh.PermissionDenied):
        key = f"the key {device.identity}" if device.identity else "your ssh-agent's and default keys"
        return EdgeSlimError(f"{where} refused {key} for user {device.user}",
                             f"install your public key there (`ssh-copy-id {'-i ' + device.identity + ' ' if device.identity else ''}"
                             f"{device.user}@{device.host}`), or give the right key: "
                             f"`edgeslim-cli devices add {device.name} ... --identity KEYFILE`")
    if isinstance(exc, asyncssh.KeyImportError) or isinstance(exc, asyncssh.KeyEncryptionError):
        return EdgeSlimError(f"cannot use the key {device.identity} ({exc})",
                             "give an unencrypted private key, or load it into ssh-agent (`ssh-add KEYFILE`) and leave --identity out")
    if isinstance(exc, ConnectionRefusedError):
        return EdgeSlimError(f"{where} refused the connection on port {device.port}",
                             "check that the board is on and runs an SSH server (`sudo systemctl enable --now ssh`), "
                             "and that the port is right")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return EdgeSlimError(f"{where} did not answer in {timeout:g} s",
                             "check that the board is on and on the same network (`ping " + device.host + "`)")
    if isinstance(exc, asyncssh.DisconnectError):
        return EdgeSlimError(f"{where} closed the SSH connection ({exc.reason})", "check the board's SSH server and try again")
    if isinstance(exc, OSError):
        return EdgeSlimError(f"cannot reach {where} ({exc.strerror or exc})",
                             "check the host name or address, and that this computer is on the board's network")
    return EdgeSlimError(f"cannot connect to {where} ({exc})", "check the device's address with `edgeslim-cli devices list`")


@asynccontextmanager
async def connect(device: Device, accept_host_key: bool = False,
                  timeout: float = CONNECT_TIMEOUT_S) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An SSH connection to ``device``; raises EdgeSlimError (HostKeyError for host keys) with the fix."""
    check = _HostKeyCheck(device, accept_host_key)
    options: dict = {"known_hosts": check.match, "username": device.user, "port": device.port,
                     "connect_timeout": timeout, "login_timeout": timeout, "password_auth": False,
                     "kbdint_auth": False}
    if device.identity:
        options["client_keys"] = [device.identity]
    try:
        conn = await asyncssh.connect(device.host, client_factory=lambda: _Client(check), **options)
    except asyncssh.HostKeyNotVerifiable:
        raise check.refusal() from None
    except (OSError, asyncio.TimeoutError, asyncssh.Error, ValueError) as exc:
        if check.status == "changed" or (check.status == "new" and not accept_host_key and check.seen is not None):
            raise check.refusal() from None
        raise _connect_error(device, exc, timeout) from None
    try:
        check.record()
        yield conn
    finally:
        conn.close()
        try:
            await asyncio.wait_for(conn.wait_closed(), 5)
        except (asyncio.TimeoutError, OSError, asyncssh.Error):
            pass


def lost(device: Device, exc: BaseException) -> EdgeSlimError:
    """The error for a connection that dropped in the middle of work."""
    return EdgeSlimError(f"the connection to {device.name} ({device.address}) was lost ({exc})",
                         "check the board's power and network, then try again (nothing was stored)")


async def run(conn: asyncssh.SSHClientConnection, device: Device, command: str, *, input: Optional[str] = None,
              timeout: Optional[float] = None, cancel: Optional[CancelToken] = None) -> CommandResult:
    """Run ``command`` on the device; cancel closes the channel at once (polled every 0.1 s)."""
    try:
        proc = await conn.create_process(command)
    except (OSError, asyncssh.Error) as exc:
        raise lost(device, exc) from None
    try:
        if input is not None:
            proc.stdin.write(input)
        proc.stdin.write_eof()
        deadline = None if timeout is None else time.monotonic() + timeout
        task = asyncio.ensure_future(proc.wait(check=False))
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if cancel is not None and cancel.cancelled:
                task.cancel()
                raise Cancelled("cancelled by the user")
            if deadline is not None and time.monotonic() > deadline and not task.done():
                task.cancel()
                raise EdgeSlimError(f"`{command[:60]}` did not finish on {device.name} in {timeout:.0f} s",
                                    "check the board's load, or measure with fewer runs")
        done = task.result()
        if done.exit_status is None and done.exit_signal is None:
            raise lost(device, ConnectionError("the command ended without an exit status"))
    except (OSError, asyncssh.Error) as exc:
        raise lost(device, exc) from None
    finally:
        if not proc.is_closing():
            proc.close()
    out = done.stdout if isinstance(done.stdout, str) else (done.stdout or b"").decode(errors="replace")
    err = done.stderr if isinstance(done.stderr, str) else (done.stderr or b"").decode(errors="replace")
    return CommandResult(done.exit_status, out, err)


def python_command(device: Device, *args: str) -> str:
    """The shell command that runs the device's Python with ``args``."""
    return " ".join([shlex.quote(device.python), *(shlex.quote(a) for a in args)])


def run_sync(coro: Awaitable[T]) -> T:
    """Run one coroutine to completion from synchronous code (a fresh event loop; fine on a worker thread)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


def identity_exists(device: Device) -> None:
    if device.identity and not os.path.isfile(device.identity):
        raise EdgeSlimError(f"the key file {device.identity} of {device.name} is gone",
                            f"add the device again with `edgeslim-cli devices add {device.name} ... --identity KEYFILE`")
