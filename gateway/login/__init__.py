"""Orchestration of the login flows (no web framework here).

``oauth`` (website QR and official-account logins), ``follow`` and ``follow_push``
(follow-the-account login, flow E: parametric QR tickets and the account's server URL),
``miniprogram`` (``wx.login`` code exchange, open data), ``scan`` with ``scan_ticket`` and
``scan_hub`` (scan-to-login tickets and the waiters on them), ``identity`` (a WeChat
identity becomes a user and a session),
``returnto`` (where a browser may be sent back to). This module is the package's face: code
outside ``gateway.login`` imports from here.
"""

from gateway.login.follow import FOLLOW_AMR, FollowLogin, FollowLoginUnavailable
from gateway.login.follow_push import (
    BadPushSignature,
    MalformedPush,
    PushReceiver,
    ReplayedPush,
    Reply,
    StalePush,
)
from gateway.login.identity import SessionIssuer
from gateway.login.metrics import FollowMetrics, LoginMetrics, ScanMetrics
from gateway.login.miniprogram import MiniProgramLogin
from gateway.login.oauth import Flow, LoginDenied, OAuthFlows, SnapshotUser
from gateway.login.returnto import safe_return_to
from gateway.login.scan import ScanLogin, TicketConflict
from gateway.login.scan_hub import Waiter, WaiterClosed
from gateway.login.scan_ticket import (
    CONFIRMED,
    DENIED,
    EXPIRED,
    LIVE_STATES,
    REDEEMED,
    SEQ,
    Identity,
    Ticket,
    TicketEvent,
)

__all__ = [
    # services
    "FollowLogin",
    "PushReceiver",
    "MiniProgramLogin",
    "OAuthFlows",
    "ScanLogin",
    "SessionIssuer",
    "Waiter",
    "safe_return_to",
    # values
    "Flow",
    "FOLLOW_AMR",
    "Identity",
    "Reply",
    "Ticket",
    "TicketEvent",
    # scan ticket states, and their order
    "CONFIRMED",
    "DENIED",
    "EXPIRED",
    "LIVE_STATES",
    "REDEEMED",
    "SEQ",
    # errors
    "BadPushSignature",
    "FollowLoginUnavailable",
    "MalformedPush",
    "ReplayedPush",
    "StalePush",
    "LoginDenied",
    "SnapshotUser",
    "TicketConflict",
    "WaiterClosed",
    # metric families
    "FollowMetrics",
    "LoginMetrics",
    "ScanMetrics",
]
