"""A real SSH server on 127.0.0.1 for the device tests: asyncssh, in its own thread, running commands here.

Its session handler runs the requested command with the shell on this machine
and streams stdin, stdout, stderr and the exit status; SFTP serves this
machine's files. It stands in for a Raspberry Pi the way a local sshd would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import asyncssh


def make_key(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    key.write_public_key(str(path) + ".pub")
    return key


async def _pump(reader, writer, close: bool) -> None:
    """Copy bytes from ``reader`` to ``writer`` until end of file."""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except (OSError, asyncssh.Error):
        pass
    finally:
        if close:
            writer.close()


async def _handle(process: asyncssh.SSHServerProcess, started: list) -> None:
    """Run the command with this machine's shell; its output and exit status go back to the client."""
    local = await asyncio.create_subprocess_shell(process.command or "true", stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                  start_new_session=True)
    started.append(local.pid)
    feed = asyncio.ensure_future(_pump(process.stdin, local.stdin, close=True))
    finished = asyncio.ensure_future(asyncio.gather(_pump(local.stdout, process.stdout, False),
                                                    _pump(local.stderr, process.stderr, False), local.wait()))
    closed = asyncio.ensure_future(process.wait_closed())
    try:
        await asyncio.wait({finished, closed}, return_when=asyncio.FIRST_COMPLETED)
        if finished.done() and not closed.done():
            process.exit(finished.result()[2])
    finally:
        feed.cancel()
        closed.cancel()
        if local.returncode is None:  # the client went away: stop what it started, as sshd's SIGHUP would
            try:
                os.killpg(local.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await local.wait()
        finished.cancel()


class _Tracked(asyncssh.SSHServer):
    """Keeps the open connections, so a test can cut them."""

    def __init__(self, connections: list) -> None:
        self._connections = connections

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.append(conn)


@dataclass
class LocalSSHServer:
    """The server's address, its keys and the processes it started."""

    port: int
    host_key_path: Path
    client_key_path: Path
    authorized: Path
    started: list = field(default_factory=list)
    connections: list = field(default_factory=list)
    _loop: Optional[asyncio.AbstractEventLoop] = None
    _server: object = None
    _thread: Optional[threading.Thread] = None

    def drop(self) -> None:
        """Cut every open connection at once, as a board losing power or network would."""
        for conn in list(self.connections):
            self._loop.call_soon_threadsafe(conn.abort)  # type: ignore[union-attr]

    def stop(self) -> None:
        """Close the listener and every connection, let the handlers finish, and end the thread (once)."""
        if self._thread is None or not self._thread.is_alive():
            return

        async def close() -> None:
            self._server.close()  # type: ignore[attr-defined]
            await self._server.wait_closed()  # type: ignore[attr-defined]
            for conn in self.connections:
                conn.abort()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            await asyncio.wait(others, timeout=5) if others else None

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(15)  # type: ignore[arg-type]
        self._loop.call_soon_threadsafe(self._loop.stop)  # type: ignore[union-attr]
        self._thread.join(10)
        self._loop.close()  # type: ignore[union-attr]


def start_server(folder: Path, host_key: Optional[Path] = None, port: int = 0) -> LocalSSHServer:
    """Start the server in a daemon thread; the client key in ``folder`` is the only one it accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    host_key = host_key or folder / "host_key"
    if not host_key.exists():
        make_key(host_key)
    client_key = folder / "client_key"
    if not client_key.exists():
        make_key(client_key)
    loop = asyncio.new_event_loop()
    started: list = []
    connections: list = []
    ready = threading.Event()
    box: dict = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def begin() -> None:
            box["server"] = await asyncssh.listen(
                "127.0.0.1", port, server_host_keys=[str(host_key)], authorized_client_keys=str(client_key) + ".pub",
                process_factory=lambda p: _handle(p, started), sftp_factory=True, allow_scp=True,
                encoding=None, server_factory=lambda: _Tracked(connections))
            ready.set()

        loop.run_until_complete(begin())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True, name="test-sshd")
    thread.start()
    assert ready.wait(20), "the test SSH server did not start"
    server = box["server"]
    bound = server.sockets[0].getsockname()[1]
    return LocalSSHServer(bound, host_key, client_key, Path(str(client_key) + ".pub"), started, connections, loop, server, thread)
