"""Endpoint modules: each describes requests and parses answers; none does I/O itself."""

from ._base import Receipt
from ._raw import RawResponse, WithRawResponse
from .catalog import Catalog
from .onboarding import OnboardingFailedError, Onboardings, OnboardingTimeoutError
from .orders import OrderUpdates
from .store_status import StoreStatuses
from .stores import Stores

__all__ = [
    "Catalog",
    "OnboardingFailedError",
    "OnboardingTimeoutError",
    "Onboardings",
    "OrderUpdates",
    "RawResponse",
    "Receipt",
    "StoreStatuses",
    "Stores",
    "WithRawResponse",
]
