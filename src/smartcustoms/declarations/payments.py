"""Tax payment status of a declaration: what is due, by when, what was paid, what is late.

Customs Law of the PRC, art. 60: the taxpayer pays within 15 days of the day customs issues the tax payment
notice (税款缴款书); past that day a late-payment surcharge (滞纳金) of 0.05 % of the unpaid tax accrues per day.
Here the notice is issued when the declaration is (last) assessed; payments are confirmed by customs with the
bank's or e-payment platform's reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

#: days to pay from the tax payment notice (Customs Law art. 60)
PAYMENT_DAYS = 15
#: late-payment surcharge per day on the unpaid tax
SURCHARGE_PER_DAY = Decimal("0.0005")
CENT = Decimal("0.01")


class PaymentStatus(StrEnum):
    """Where a declaration's taxes stand."""

    NOT_ASSESSED = "not_assessed"  # no taxes assessed (rejected, or not yet assessed)
    NOTHING_DUE = "nothing_due"  # assessed at zero, or the declaration was cancelled or rejected
    UNPAID = "unpaid"  # due, within the payment period
    PART_PAID = "part_paid"  # some paid, the rest within the payment period
    OVERDUE = "overdue"  # payment period over with tax unpaid: the surcharge accrues
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class Payment:
    """One confirmed payment."""

    amount_cny: Decimal
    paid_at: datetime
    reference: str
    recorded_by: str


@dataclass(frozen=True, slots=True)
class PaymentState:
    """A declaration's tax account: due, paid, outstanding, the due date and any late-payment surcharge."""

    status: PaymentStatus
    due_cny: Decimal
    paid_cny: Decimal
    outstanding_cny: Decimal
    notice_at: datetime | None
    due_by: datetime | None
    days_late: int
    surcharge_cny: Decimal
    payments: list[Payment]


def payment_state(due: Decimal | None, notice_at: datetime | None, payments: Sequence[Payment], now: datetime,
                  *, void: bool = False) -> PaymentState:
    """The payment status of taxes ``due`` (CNY) noticed at ``notice_at``, given the payments, at ``now``.

    ``void``: the declaration was cancelled or rejected (nothing is due; a payment made is for refund).
    """
    paid = sum((p.amount_cny for p in payments), Decimal(0)).quantize(CENT)
    if due is None:
        return PaymentState(PaymentStatus.NOTHING_DUE if void else PaymentStatus.NOT_ASSESSED, Decimal(0), paid,
                            Decimal(0), None, None, 0, Decimal(0), list(payments))
    due = Decimal(0) if void else due.quantize(CENT)
    outstanding = max(due - paid, Decimal(0))
    due_by = notice_at + timedelta(days=PAYMENT_DAYS) if notice_at is not None else None
    late = 0
    if due == 0:
        status = PaymentStatus.NOTHING_DUE
    elif outstanding == 0:
        status = PaymentStatus.PAID
    elif due_by is not None and now.date() > due_by.date():
        status, late = PaymentStatus.OVERDUE, (now.date() - due_by.date()).days
    else:
        status = PaymentStatus.PART_PAID if paid > 0 else PaymentStatus.UNPAID
    surcharge = (outstanding * SURCHARGE_PER_DAY * late).quantize(CENT, ROUND_HALF_UP)
    return PaymentState(status, due, paid, outstanding, notice_at, due_by, late, surcharge, list(payments))
