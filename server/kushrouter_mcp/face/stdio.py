"""MCP over stdio: every line gets the answer JSON-RPC 2.0 asks for, and a signal stops the server.

The SDK's stdio transport (mcp.server.stdio) leaves two gaps, closed here:
- a line it can't read (not JSON, nested deeper than its parser's 200 levels, not a request) is
  logged at DEBUG and dropped, so its sender waits forever. Here it is answered with -32700 Parse
  error or -32600 Invalid Request, carrying the request's id when it can be read;
- it reads stdin in a non-daemon worker thread that ends only when stdin closes, so SIGINT or SIGTERM
  can't stop a server whose client keeps stdin open. Here a daemon thread reads, and a signal
  cancels the calls in flight, each answered with an error saying the server is stopping.
The SDK still claims fds 0 and 1 and runs the server (see library_internals.py).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
from dataclasses import dataclass
from typing import IO, Any, Final

import anyio
import anyio.from_thread
import anyio.lowlevel
import pydantic_core
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage
from mcp.types import (
    CONNECTION_CLOSED,
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    RequestId,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError

from ..library_internals.sdk_stdio import claimed_stdio, serve_streams
from .stopping import STOPPING_CODE, stopping_message

logger = logging.getLogger(__name__)

# Ctrl-C ends the process as a shell reports it (128 + SIGINT); SIGTERM is an ordinary stop.
EXIT_CODES: Final = {signal.SIGINT: 130, signal.SIGTERM: 0}
REQUEST_SHAPE: Final = (
    'Invalid Request: send {"jsonrpc": "2.0", "id": <string or integer>, "method": <string>, '
    '"params": <object, optional>}.'
)
# A JSON string, or a run of brackets (one step, however deep it nests): what the top-level id scan
# tracks nesting by. Possessive, so a string left open runs to the end of the line instead of being
# retried from every quote after it (quadratic).
_STRING_OR_BRACKETS: Final = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[\[\]{}\s]*[\[\]{}]')
_ID_KEY: Final = re.compile(r'"id"\s*:\s*')
_DECODER: Final = json.JSONDecoder()


def serve(server: MCPServer[Any]) -> int:
    """Serve over stdin/stdout until stdin closes (exit code 0) or a stop signal (EXIT_CODES)."""
    return anyio.run(_serve, server)


async def _serve(server: MCPServer[Any]) -> int:
    stop = _Stop()
    messages_in, messages = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    answers, answers_out = anyio.create_memory_object_stream[SessionMessage](0)
    with claimed_stdio() as (wire_in, wire_out):
        async with anyio.create_task_group() as transport:
            # Outside the serving scope: on a stop it still writes the answers to calls in flight.
            transport.start_soon(_write_answers, answers_out, wire_out, stop)
            async with anyio.create_task_group() as serving:
                serving.start_soon(_read_messages, wire_in, messages_in, answers.clone())
                serving.start_soon(_stop_on_signal, serving.cancel_scope, stop)
                await serve_streams(server, messages, answers)
                serving.cancel_scope.cancel()  # stdin has closed: stop watching for signals
    return EXIT_CODES[stop.signal] if stop.signal else 0


@dataclass
class _Stop:
    """The signal that stopped the server, if one did."""

    signal: signal.Signals | None = None

    def explain(self, message: JSONRPCMessage) -> JSONRPCMessage:
        """After a stop, the SDK answers each call in flight with "Connection closed"; say why instead."""
        if self.signal is None or not isinstance(message, JSONRPCError):
            return message
        if message.error.code != CONNECTION_CLOSED:
            return message
        return _error(message.id, STOPPING_CODE, stopping_message(self.signal.name))


async def _stop_on_signal(serving: anyio.CancelScope, stop: _Stop) -> None:
    if sys.platform == "win32":  # asyncio has no signal handlers there: Ctrl-C interrupts as before
        return
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            stop.signal = signal.Signals(signum)
            logger.info("stopping on %s", stop.signal.name)
            serving.cancel()
            return


async def _read_messages(
    wire_in: IO[bytes],
    messages: MemoryObjectSendStream[SessionMessage | Exception],
    answers: MemoryObjectSendStream[SessionMessage],
) -> None:
    """Hand each message read to the server; answer each line that isn't one."""
    lines_in, lines = anyio.create_memory_object_stream[bytes](0)
    _start_line_pump(wire_in, lines_in)
    async with messages, answers, lines:
        async for line in lines:
            message = read_line(line.decode("utf-8", errors="replace"))
            if isinstance(message, Unreadable):
                if message.answer is not None:
                    await answers.send(SessionMessage(message.answer))
            else:
                await messages.send(SessionMessage(message))


def _start_line_pump(wire_in: IO[bytes], lines: MemoryObjectSendStream[bytes]) -> None:
    """Read lines in a daemon thread: blocked in a read while stdin stays open, it can't hold up the exit."""
    token = anyio.lowlevel.current_token()

    def pump() -> None:
        try:
            while line := _read_or_eof(wire_in):
                anyio.from_thread.run(lines.send, line, token=token)
            anyio.from_thread.run(lines.aclose, token=token)
        except Exception:  # closed stream, finished or cancelled event loop: the server stopped listening
            return

    threading.Thread(target=pump, name="stdio line reader", daemon=True).start()


def _read_or_eof(wire_in: IO[bytes]) -> bytes:
    try:
        return wire_in.readline()
    except (OSError, ValueError):  # stdin failed or was closed under us: as good as its end
        return b""


async def _write_answers(
    answers: MemoryObjectReceiveStream[SessionMessage], wire_out: IO[bytes], stop: _Stop
) -> None:
    async with answers:
        async for answer in answers:
            line = stop.explain(answer.message).model_dump_json(by_alias=True, exclude_unset=True)
            try:
                await anyio.to_thread.run_sync(_write_line, wire_out, line.encode() + b"\n")
            except OSError:  # the client has closed our stdout: keep draining, or senders would block
                logger.debug("stdout is gone; dropping an answer")


def _write_line(wire_out: IO[bytes], line: bytes) -> None:
    wire_out.write(line)
    wire_out.flush()


# ---- Reading one line --------------------------------------------------------------------------


@dataclass(frozen=True)
class Unreadable:
    """A line the server can't take; `answer` is what JSON-RPC 2.0 says to reply (None: nothing)."""

    answer: JSONRPCError | None


def read_line(line: str) -> JSONRPCMessage | Unreadable:
    """The message on one line, or what to answer when there is none the server can take."""
    if not line.strip():
        return Unreadable(None)  # a blank line carries no message
    try:
        message = jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError:
        answer = _answer_unreadable(line)
        logger.info("unreadable stdin line: %s", answer.error.message[:80] if answer else "not answered")
        return Unreadable(answer)
    if isinstance(message, JSONRPCNotification) and _has_id_member(line):
        # The SDK's models ignore an id that is neither a string nor an integer (1.5, null, true)
        # and take the request for a notification: its sender would wait forever.
        return Unreadable(_error(None, INVALID_REQUEST, "Invalid Request: an id is a string or an integer."))
    return message


def _answer_unreadable(line: str) -> JSONRPCError | None:
    try:
        value = pydantic_core.from_json(line)
    except ValueError as error:  # not JSON, or nested deeper than the parser goes
        return _error(top_level_id(line), PARSE_ERROR, f"Parse error: {error}")
    if isinstance(value, list):
        reason = "MCP has no batches (since 2025-06-18): send one message per line."
        return _error(None, INVALID_REQUEST, f"Invalid Request: {reason}")
    if not isinstance(value, dict):
        return _error(None, INVALID_REQUEST, REQUEST_SHAPE)
    if _is_notification(value) or _is_response(value):
        return None  # JSON-RPC 2.0 answers neither, even one the server can't take
    return _error(_usable_id(value.get("id")), INVALID_REQUEST, REQUEST_SHAPE)


def _is_notification(value: dict[str, Any]) -> bool:
    """A valid JSON-RPC 2.0 notification (params may be an array there; MCP only takes objects)."""
    return (
        "id" not in value
        and value.get("jsonrpc") == "2.0"
        and isinstance(value.get("method"), str)
        and isinstance(value.get("params", {}), dict | list)
    )


def _is_response(value: dict[str, Any]) -> bool:
    return "method" not in value and "id" in value and ("result" in value or "error" in value)


def _has_id_member(line: str) -> bool:
    if '"id"' not in line:
        return False
    value = pydantic_core.from_json(line)  # parses: the SDK just has
    return isinstance(value, dict) and "id" in value


def _usable_id(value: object) -> RequestId | None:
    """`value` if it can be an id (a string or an integer), else None: the answer's id is then null."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def top_level_id(line: str) -> RequestId | None:
    """The id member of the object on `line`, read without parsing anything nested in it.

    What is nested may be too deep for any parser or broken; the id, at the top level, can still be
    read so the error answer reaches the request's sender.
    """
    depth = 0
    for token in _STRING_OR_BRACKETS.finditer(line):
        text = token.group()
        if text[0] != '"':
            depth += text.count("{") + text.count("[") - text.count("}") - text.count("]")
        elif depth == 1 and (key := _ID_KEY.match(line, token.start())):
            try:
                value, _ = _DECODER.raw_decode(line, key.end())
            except (ValueError, RecursionError):
                return None
            return _usable_id(value)
    return None


def _error(request_id: RequestId | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))
