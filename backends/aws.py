"""boto3 plumbing shared by the ECS backend and the ``fargate-lab ecs`` commands.

- **Clients** (:class:`AwsClients`) come from a :class:`boto3.session.Session`, so credentials
  come only from boto3's standard chain (environment, shared config and credentials files,
  ``--profile``, container or instance roles). Nothing here reads, prints or logs them.
- **Retries**: botocore's ``standard`` retry mode (or ``adaptive``), which retries
  ``ThrottlingException`` and the other throttling codes with exponential backoff
  ("Retries", Boto3 documentation,
  https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html). When the
  attempts are exhausted :func:`call` raises :class:`AwsError` with a one-line message.
- **Requests as data** (:class:`Request`): every write is first a plan, a list of requests
  that can be printed as JSON (the dry run, the default) or sent in order (``--apply``) by
  :func:`execute`. A request may use a value returned by an earlier one (``"${ref.Key}"``,
  e.g. the ARN of the task definition just registered). If a request fails, the error says
  which requests were sent and which were not, so the service is left in a known state.
- **Guardrail on the write rate** (:class:`WriteRateGuard`): at most ``max_writes`` writes
  in any ``window_s`` seconds; a plan that would exceed it is refused before its first call.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Error codes botocore's retry handlers treat as throttling (botocore.retries.standard).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

#: boto3 service names used by the project, by the short names requests carry.
SERVICES = {
    "ecs": "ecs",
    "application-autoscaling": "application-autoscaling",
    "cloudwatch": "cloudwatch",
    "elbv2": "elbv2",
}


class AwsError(RuntimeError):
    """A request AWS refused, or could not be sent; the message is one line."""


class InputError(ValueError):
    """Input refused before any request is sent; the message names the problem."""


class GuardrailError(InputError):
    """A write a guardrail refuses (range, step size or call rate)."""


class PartialFailure(AwsError):
    """Some requests of a plan were sent, then one failed."""

    def __init__(self, error: str, done: list[Request], not_done: list[Request]) -> None:
        self.error = error
        self.done = done
        self.not_done = not_done
        sent = ", ".join(r.label for r in done) or "none"
        unsent = ", ".join(r.label for r in not_done) or "none"
        super().__init__(f"{error}; done: {sent}; not done: {unsent}")


@dataclass
class Request:
    """One API request: ``service`` (boto3 name), ``operation`` (API name, as in AWS's API
    reference) and its parameters. ``ref`` names the response for later requests."""

    service: str
    operation: str
    params: dict[str, Any]
    ref: str | None = None
    write: bool = True

    @property
    def label(self) -> str:
        name = (
            self.params.get("PolicyName")
            or self.params.get("ScheduledActionName")
            or self.params.get("AlarmName")
            or self.params.get("family")
        )
        return f"{self.operation}({name})" if name else self.operation

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "operation": self.operation, "params": self.params}


def snake(operation: str) -> str:
    """``UpdateService`` -> ``update_service`` (boto3's method names)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", operation).lower()


_SESSIONS: dict[tuple[str | None, str | None], Any] = {}


def _session(profile: str | None, region: str | None) -> Any:
    """One boto3 session per (profile, region) in a process: its loader parses each service
    model once, which is most of the cost of making a client."""
    key = (profile, region)
    if key not in _SESSIONS:
        import boto3
        from botocore.exceptions import ProfileNotFound

        try:
            _SESSIONS[key] = boto3.session.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as exc:
            raise AwsError(f"--profile: {exc}") from None
    return _SESSIONS[key]


class AwsClients:
    """Lazily created boto3 clients for one region/profile/endpoint.

    ``hooks`` are ``(event name, handler)`` pairs registered on every client (tests count
    requests with ``before-send`` and inject throttling there); :attr:`default_hooks` is the
    same for every instance (a test seam).
    """

    default_hooks: list[tuple[str, Callable[..., Any]]] = []

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        retry_mode: str = "standard",
        max_attempts: int = 5,
        hooks: Sequence[tuple[str, Callable[..., Any]]] = (),
        session: Any = None,
    ) -> None:
        if retry_mode not in ("standard", "adaptive"):
            raise InputError(f"retry mode must be 'standard' or 'adaptive', got {retry_mode!r}")
        if max_attempts < 1:
            raise InputError(f"max attempts must be >= 1, got {max_attempts}")
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.retry_mode = retry_mode
        self.max_attempts = max_attempts
        self.hooks = list(hooks)
        self._session = session
        self._clients: dict[str, Any] = {}

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = _session(self.profile, self.region)
        return self._session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            config = Config(
                retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
                user_agent_extra="fargate-lab",
            )
            region = self.region or self.session.region_name
            if not region:
                raise AwsError("no AWS region: pass --region or set one in your AWS config")
            client = self.session.client(
                SERVICES.get(service, service),
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=config,
            )
            for event, handler in [*self.default_hooks, *self.hooks]:
                client.meta.events.register(event, handler)
            self._clients[service] = client
        return self._clients[service]

    def call(self, service: str, operation: str, /, **params: Any) -> dict[str, Any]:
        """Send one request; see :func:`call`."""
        return call(self, service, operation, params)


def call(clients: AwsClients, service: str, operation: str, params: dict[str, Any]) -> dict:
    """Send one request, turning botocore's exceptions into a one-line :class:`AwsError`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        method = getattr(clients.client(service), snake(operation))
        return method(**params)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = err.get("Code", "Unknown")
        message = " ".join(str(err.get("Message", "")).split())
        if code in THROTTLING_CODES:
            retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            raise AwsError(
                f"{service} {operation}: throttled by AWS ({code}); gave up after {retries} "
                f"{clients.retry_mode}-mode retries (--max-attempts {clients.max_attempts}), "
                "try again later or raise --max-attempts"
            ) from None
        raise AwsError(f"{service} {operation}: {code}: {message}") from None
    except NoCredentialsError:
        raise AwsError(
            f"{service} {operation}: no AWS credentials found in boto3's standard chain "
            "(environment, ~/.aws, --profile, or a role)"
        ) from None
    except BotoCoreError as exc:
        text = " ".join(str(exc).split())
        raise AwsError(f"{service} {operation}: {text}") from None


class WriteRateGuard:
    """At most ``max_writes`` writes in any ``window_s`` seconds (a guardrail of ours, not an
    AWS limit). ``reserve(n)`` refuses, before any call, a batch that would exceed it."""

    def __init__(
        self,
        max_writes: int = 20,
        window_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_writes < 1:
            raise InputError(f"max writes per window must be >= 1, got {max_writes}")
        self.max_writes = max_writes
        self.window_s = window_s
        self._monotonic = monotonic
        self._times: deque[float] = deque()

    def reserve(self, n: int) -> None:
        now = self._monotonic()
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) + n > self.max_writes:
            raise GuardrailError(
                f"write-rate guardrail: {n} write(s) now would make {len(self._times) + n} in "
                f"{self.window_s:g} s, more than the limit of {self.max_writes} "
                "(--max-writes-per-minute)"
            )
        self._times.extend([now] * n)


_PLACEHOLDER = re.compile(r"^\$\{([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_]+)+)\}$")


def _substitute(value: Any, results: dict[str, dict]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if isinstance(value, str) and (m := _PLACEHOLDER.match(value)):
        node: Any = results[m[1]]
        for key in m[2].strip(".").split("."):
            node = node[key]
        return node
    return value


def plan_json(requests: Iterable[Request]) -> str:
    """The requests as the JSON a dry run prints."""
    return json.dumps([r.to_json() for r in requests], indent=2, default=str)


@dataclass
class Outcome:
    """What :func:`execute` did."""

    applied: bool
    sent: list[Request] = field(default_factory=list)
    responses: list[dict] = field(default_factory=list)


def execute(
    clients: AwsClients,
    requests: Sequence[Request],
    apply: bool,
    guard: WriteRateGuard | None = None,
) -> Outcome:
    """Send ``requests`` in order if ``apply``, else send nothing.

    The write-rate guard is consulted for the whole plan before the first request. A failure
    raises :class:`PartialFailure` listing the requests done and not done (none done when the
    first one fails).
    """
    if not apply:
        return Outcome(applied=False)
    writes = sum(1 for r in requests if r.write)
    if guard is not None and writes:
        guard.reserve(writes)
    results: dict[str, dict] = {}
    outcome = Outcome(applied=True)
    for i, req in enumerate(requests):
        try:
            params = _substitute(copy.deepcopy(req.params), results)
            response = call(clients, req.service, req.operation, params)
        except AwsError as exc:
            raise PartialFailure(str(exc), list(outcome.sent), list(requests[i:])) from None
        if req.ref:
            results[req.ref] = response
        outcome.sent.append(req)
        outcome.responses.append(response)
    return outcome
