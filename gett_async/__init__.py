"""gett-async: an asyncio SDK for the Gett Commerce Partner API."""

from . import _logging
from ._core.paths import ApiPaths, Environment
from ._core.retry import RetryBudget, RetryPolicy
from ._core.updates import Update
from ._core.wire import NOT_GIVEN, ApiRequest, ApiResponse, NotGiven, Timeout, Transport
from ._http.gate import GateState, HeaderRateLimitGate, Priority, RateLimitGate
from ._http.sender import Attempt
from ._http.transport import AiohttpTransport

try:
    from ._http.http1 import Http1Transport
except ImportError:  # pragma: no cover - no httptools for this interpreter
    pass
from ._version import __version__
from .checkpoints import CheckpointError, CheckpointLockedError, CheckpointMismatchError
from .client import GettClient
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GettError,
    GettValidationError,
    IllegalTransitionError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
    WebhookHandlerError,
    WebhookVerificationError,
)
from .models import (
    Address,
    CatalogSetNotification,
    Onboarding,
    OnboardingRequest,
    OnboardingStatus,
    OrderState,
    OrderStatus,
    OrderStatusUpdate,
    PauseReason,
    Problem,
    Store,
    StoreStatus,
    StoreStatusUpdate,
    StoreStatusValue,
    StoreUpdate,
)
from .models.enums import PositionValue, StateValue, StatusValue
from .orders import (
    Checkpoint,
    CircuitBreaker,
    EventSourceError,
    HistoryEntry,
    OrderBlockedError,
    OrderEvent,
    OrderStream,
    OrderTracker,
    OutcomeKind,
    StreamAbortedError,
    StreamSummary,
    UpdateOutcome,
    UpdateSender,
    Watermark,
)
from .resources import OnboardingFailedError, OnboardingTimeoutError, RawResponse, Receipt

_logging.setup()  # a NullHandler; and a stderr handler when GETT_LOG=info|debug

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Address",
    "AiohttpTransport",
    "Http1Transport",
    "ApiPaths",
    "ApiRequest",
    "ApiResponse",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "CatalogSetNotification",
    "Checkpoint",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointMismatchError",
    "CircuitBreaker",
    "ConflictError",
    "Environment",
    "EventSourceError",
    "GateState",
    "GettClient",
    "GettError",
    "GettValidationError",
    "HeaderRateLimitGate",
    "HistoryEntry",
    "IllegalTransitionError",
    "NotFoundError",
    "NotGiven",
    "Onboarding",
    "OnboardingFailedError",
    "OnboardingRequest",
    "OnboardingStatus",
    "OnboardingTimeoutError",
    "OrderBlockedError",
    "OrderEvent",
    "OrderState",
    "OrderStatus",
    "OrderStatusUpdate",
    "OrderStream",
    "OrderTracker",
    "OutcomeKind",
    "PauseReason",
    "PermissionDeniedError",
    "PositionValue",
    "Priority",
    "Problem",
    "RateLimitError",
    "RateLimitGate",
    "RawResponse",
    "Receipt",
    "RetryBudget",
    "RetryPolicy",
    "ServerError",
    "StateValue",
    "StatusValue",
    "Store",
    "StoreStatus",
    "StoreStatusUpdate",
    "StoreStatusValue",
    "StoreUpdate",
    "StreamAbortedError",
    "StreamSummary",
    "Timeout",
    "Transport",
    "UnprocessableEntityError",
    "Update",
    "UpdateOutcome",
    "UpdateSender",
    "Watermark",
    "WebhookHandlerError",
    "WebhookVerificationError",
    "__version__",
]
