"""Joining or starting Ray (for search._ray.session), with the checks that turn Ray's slow or
cryptic failures into one-line errors: nothing listening, a Ray Client server that refuses our
token or is not one, trials that no node could host.

Public Ray APIs: `ray.init`, `ray.nodes`, `ray.exceptions.AuthenticationError`, and the token
rules Ray documents (RAY_AUTH_MODE, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token).
One thing is internal: Ray Client has no public "are you there, and do you take my token?"
call, and `ray.init("ray://...")` retries for 30 s whatever the server answered. So before it,
`ping_client_server` sends Ray Client's own ping (the method and message come from the
protobuf descriptors Ray's client registers, as `ray.util.client.worker.ping_server` sends
it), only on the Ray versions it was tested with (PING_TESTED); elsewhere it steps aside and
`ray.init` reports, slowly. tests/search/test_search_cluster_contract.py fails when Ray
changes what it relies on.

Ray reads RAY_AUTH_MODE once, when it is imported: `prefer_token_mode` must run before
anything imports ray (run_search calls it first), so Ray is imported here only in functions.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from search.errors import ClusterError

CLIENT_PORT = 10001                                # Ray Client's default port
PING_TESTED = ((2, 40), (3, 0))                    # Ray versions [from, to) whose client ping is known
PING_METHOD = "ray.rpc.RayletDriver.ClusterInfo"   # Ray Client's ping (as ray.util.client.worker.ping_server sends it)
PING_TYPE = ("ray.rpc.ClusterInfoType.TypeEnum", "PING")
TOKEN_HEADER = "authorization"                     # "Bearer TOKEN", as Ray's documented HTTP/gRPC token header


def prefer_token_mode(address: str | None) -> None:
    """Token mode for joining a cluster where this machine has a Ray token and RAY_AUTH_MODE
    is unset: a head started where a token exists demands it (Ray's rule for `ray start`),
    a driver sends it only in token mode, and token-less clusters accept it too. A local,
    private Ray needs none. Call before ray is imported: Ray reads the mode then."""
    if "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token" if address and auth_token() is not None else "disabled"


def start_ray(address: str | None, *, local: dict[str, Any] | None = None) -> bool:
    """Join `address` ("auto", "HOST:PORT", "ray://HOST:PORT") or start a quiet local Ray (with
    `local`'s further `ray.init` arguments: search._pool's); True if this call connected
    (ray.shutdown() then only disconnects from a joined cluster)."""
    prefer_token_mode(address)  # in time only if ray is not imported yet (run_search sees to it)
    import ray

    if ray.is_initialized():
        return False
    from ray.exceptions import AuthenticationError

    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if not address:
        try:
            ray.init(include_dashboard=False, **kwargs, **(local or {}))
        except (RuntimeError, ConnectionError) as exc:  # e.g. its processes could not write their session files
            raise ClusterError(f"a local Ray could not start here ({str(exc).strip().splitlines()[0]}); check the free "
                               "space and file-size limit of /tmp (Ray's session folder), or join a running cluster "
                               "with --address") from None
        return True
    no_cluster = (f"no Ray cluster to join at {address!r} ({{}}); start one with `ray start --head` "
                  "or leave out --address for a local Ray")
    no_token = (f"the Ray cluster at {address!r} uses token authentication and this machine lacks its "
                "token: copy it to ~/.ray/auth_token or RAY_AUTH_TOKEN, and unset RAY_AUTH_MODE (or set it to token)")
    client = address.startswith("ray://")
    target = client_target(address) if client else address
    if client:
        try:
            import grpc  # noqa: F401  (Ray Client's transport: ray[client], a momnas dependency)
        except ImportError:
            raise ClusterError(
                f"--address {address} needs Ray Client, which this Python lacks: pip install grpcio "
                f"(all that Ray's client extra adds, and a momnas dependency), or run momnas search on a cluster "
                "node with --address auto"
            ) from None
        logging.getLogger("ray.util.client.logsclient").addFilter(_no_client_server_noise)
    if target != "auto" and target.rpartition(":")[2].isdigit():
        # ray.init retries an unreachable GCS for minutes, logging every try, and Ray Client
        # for 30 s with a warning: refuse at once.
        host, _, port = target.rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=5).close()
        except OSError as exc:
            raise ClusterError(no_cluster.format(f"{type(exc).__name__}: {exc}")) from None
    if client:
        # Ray Client retries for 30 s whatever the server said, then says "connection timeout".
        refused = ping_client_server(target)
        if refused == "UNAUTHENTICATED":
            raise ClusterError(no_token)
        if refused == "UNIMPLEMENTED":
            raise ClusterError(no_cluster.format(
                "something listens there, but not a Ray Client server: give the head's client server port, "
                f"{CLIENT_PORT} unless `ray start --head --ray-client-server-port` said otherwise"))
    for attempt in (1, 2):
        try:
            ray.init(address=address, **kwargs)
            return True
        except (ConnectionError, RuntimeError, AuthenticationError) as exc:
            if any(isinstance(e, AuthenticationError) for e in _chain(exc)):
                raise ClusterError(no_token) from None
            # Ray Client starts a server per driver on the head, and that start has been seen
            # to fail at random (ConnectionAbortedError, "Initialization failure from server",
            # once in ~13 connections, the next one fine): try once more before giving up.
            if attempt == 1 and client and isinstance(exc, ConnectionAbortedError):
                continue
            raise ClusterError(no_cluster.format(str(exc).splitlines()[0])) from None
    return True


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes / contexts, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def client_target(address: str) -> str:
    """HOST:PORT of a ray://HOST[:PORT][/...] address (Ray Client's port by default)."""
    target = address.removeprefix("ray://").split("/")[0]
    return target if target.rpartition(":")[2].isdigit() else f"{target}:{CLIENT_PORT}"


def auth_token() -> str | None:
    """This machine's Ray token, where Ray's docs say it looks: RAY_AUTH_TOKEN, the file
    RAY_AUTH_TOKEN_PATH names, then ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip()
    for path in (os.environ.get("RAY_AUTH_TOKEN_PATH"), Path.home() / ".ray" / "auth_token"):
        try:
            token = Path(path).read_text().strip() if path else ""
        except OSError:
            continue
        if token:
            return token
    return None


def ping_request() -> tuple[str, bytes] | None:
    """The gRPC method path and serialized request of Ray Client's ping, from the protobuf
    descriptors that Ray's client registers; None if this Ray has no such method."""
    import ray

    version = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if not PING_TESTED[0] <= version < PING_TESTED[1]:
        return None
    try:
        import ray.util.client.worker  # noqa: F401  (registers Ray Client's messages)
        from google.protobuf import descriptor_pool, message_factory

        pool = descriptor_pool.Default()
        method = pool.FindMethodByName(PING_METHOD)
        ping = pool.FindEnumTypeByName(PING_TYPE[0]).values_by_name[PING_TYPE[1]].number
        request = message_factory.GetMessageClass(method.input_type)(type=ping)
    except (ImportError, KeyError, AttributeError, ValueError, TypeError):
        return None
    return f"/{method.containing_service.full_name}/{method.name}", request.SerializeToString()


def ping_client_server(target: str, timeout: float = 10) -> str | None:
    """The gRPC status name with which the Ray Client server at `target` refuses a ping (with
    this machine's token, if any), or None if it answers or cannot be asked."""
    import grpc

    ping = ping_request()
    if ping is None or os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return None  # another Ray, or TLS: ray.init says what is wrong, if slowly
    path, request = ping
    token = auth_token() if os.environ.get("RAY_AUTH_MODE", "token") != "disabled" else None
    metadata = [(TOKEN_HEADER, f"Bearer {token}")] if token else []
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
        try:
            call(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code().name
    return None


def _no_client_server_noise(record: logging.LogRecord) -> bool:
    # Ray Client streams the head's client server log here, which starts with its ray.init
    # in a thread saying that it sets no SIGTERM handler: nothing for the user.
    return "SIGTERM handler is not set" not in record.getMessage()


def check_fits(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Refuse trials that no node of the joined Ray cluster could host: Tune would wait for
    them forever. (A trial runs on one node, so the largest node counts, not the total.)"""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus_per_trial and r.get("GPU", 0) >= gpus_per_trial for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
    raise ClusterError(
        f"no node of the Ray cluster has {cpus_per_trial:g} CPU(s) and {gpus_per_trial:g} GPU(s) for one trial "
        f"(largest node: {largest.get('CPU', 0):g} CPUs, {largest.get('GPU', 0):g} GPUs), so no trial could ever "
        "start; ask for less with --cpus-per-trial / --gpus-per-trial"
    )
