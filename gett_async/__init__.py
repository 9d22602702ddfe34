"""gett-async: an asyncio SDK for the Gett Commerce Partner API."""

from ._paths import ApiPaths
from ._ratelimit import HeaderRateLimitGate, RateLimitGate
from ._retry import RetryBudget, RetryPolicy
from ._session import Attempt
from ._version import __version__
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
from .resources import OnboardingFailedError, OnboardingTimeoutError, Receipt
from .stream import OrderEvent, OrderStream, OutcomeKind, StreamSummary, UpdateOutcome
from .tracker import HistoryEntry, OrderTracker

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Address",
    "ApiPaths",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "CatalogSetNotification",
    "ConflictError",
    "GettClient",
    "GettError",
    "GettValidationError",
    "HeaderRateLimitGate",
    "HistoryEntry",
    "IllegalTransitionError",
    "NotFoundError",
    "Onboarding",
    "OnboardingFailedError",
    "OnboardingRequest",
    "OnboardingStatus",
    "OnboardingTimeoutError",
    "OrderEvent",
    "OrderState",
    "OrderStatus",
    "OrderStatusUpdate",
    "OrderStream",
    "OrderTracker",
    "OutcomeKind",
    "PauseReason",
    "PermissionDeniedError",
    "Problem",
    "RateLimitError",
    "RateLimitGate",
    "Receipt",
    "RetryBudget",
    "RetryPolicy",
    "ServerError",
    "Store",
    "StoreStatus",
    "StoreStatusUpdate",
    "StoreStatusValue",
    "StoreUpdate",
    "StreamSummary",
    "UnprocessableEntityError",
    "UpdateOutcome",
    "__version__",
]
