"""attrs models (frozen, slotted) and enums for every Commerce API schema."""

from .enums import OnboardingStatus, OrderState, OrderStatus, PauseReason, StoreStatusValue
from .onboarding import Onboarding, OnboardingRequest
from .orders import OrderStatusUpdate
from .problem import Problem
from .stores import (
    Address,
    CatalogSetNotification,
    Store,
    StoreStatus,
    StoreStatusUpdate,
    StoreUpdate,
)

__all__ = [
    "Address",
    "CatalogSetNotification",
    "Onboarding",
    "OnboardingRequest",
    "OnboardingStatus",
    "OrderState",
    "OrderStatus",
    "OrderStatusUpdate",
    "PauseReason",
    "Problem",
    "Store",
    "StoreStatus",
    "StoreStatusUpdate",
    "StoreStatusValue",
    "StoreUpdate",
]
