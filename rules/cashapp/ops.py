"""From decisions to ERP operations, and from a clerk's accepted match back to the matcher's knowledge."""

from __future__ import annotations

from decimal import Decimal

from mapping.models import Allocation, Customer, Payment, PaymentApplication, TargetType
from rules.cashapp.model import ZERO, MatchResult, PaymentInput
from rules.cashapp.normalize import normalize_account, normalize_name


def to_payment_application(result: MatchResult, payment: Payment | PaymentInput,
                           customer_id: str | None = None) -> PaymentApplication:
    """The write-back operation for a decided match.

    An ERP payment (a canonical :class:`~mapping.models.Payment`) gets lines added to it
    (``target_type=payment``); a bank line, which the ERP does not know yet, becomes a new payment of
    the customer (``target_type=customer``). Allocation amounts are cash: a credit memo netted in is
    negative, so the allocations add up to the cash applied. Discounts and write-offs are not cash:
    each allocation carries its own, and ``reason`` repeats them for the ERP user.

    Args:
        result: The decision (``auto``, or a ``review`` item a clerk accepted).
        payment: The payment the decision is about.
        customer_id: Overrides the result's customer (a clerk changed it).

    Raises:
        ValueError: the result has no customer or no applications, or is about another payment.
    """
    cid = customer_id or result.customer_id
    if cid is None or not result.applications:
        raise ValueError(f"payment {result.payment_id}: nothing to apply ({result.status}, {result.rule})")
    pid = payment.remote_id if isinstance(payment, Payment) else payment.payment_id
    if pid != result.payment_id:
        raise ValueError(f"result is about payment {result.payment_id}, not {pid}")
    allocations = [
        Allocation(
            target_type=TargetType.CREDIT_MEMO if a.kind == "credit_memo" else TargetType.INVOICE,
            target_id=a.doc_id,
            amount=a.amount,
            discount=a.discount if a.discount != ZERO else None,
            writeoff=a.writeoff if a.writeoff != ZERO else None,
            applied_date=payment.date,
        )
        for a in result.applications
    ]
    extras = [
        f"{a.number or a.doc_id}: discount {a.discount}" for a in result.applications if a.discount != ZERO
    ] + [f"{a.number or a.doc_id}: write-off {a.writeoff}" for a in result.applications if a.writeoff != ZERO]
    reason = f"[{result.rule}, confidence {result.confidence:.2f}] {result.explanation}"
    if extras:
        reason += " Settled without cash: " + "; ".join(extras) + "."
    if isinstance(payment, Payment):
        return PaymentApplication(
            target_type=TargetType.PAYMENT,
            target_id=payment.remote_id,
            base_version=payment.version,
            payment_id=payment.remote_id,
            customer_remote_id=cid,
            amount=payment.amount,
            currency=payment.currency,
            date=payment.date,
            reference=payment.reference,
            allocations=allocations,
            reason=reason[:4000],
        )
    return PaymentApplication(
        target_type=TargetType.CUSTOMER,
        target_id=cid,
        payment_id=None,
        customer_remote_id=cid,
        amount=payment.amount,
        currency=payment.currency,
        date=payment.date,
        reference=_bank_reference(payment),
        allocations=allocations,
        reason=reason[:4000],
    )


def _bank_reference(payment: PaymentInput) -> str:
    # The bank line id keeps a re-imported statement from creating the payment twice.
    text = f"{payment.payment_id} {payment.reference or ''}".strip()
    return text[:200]


def applied_total(result: MatchResult) -> Decimal:
    """Cash the result applies to documents (credit memos netted)."""
    return sum((a.amount for a in result.applications), ZERO)


def learn_from_accepted(customer: Customer, payment: Payment | PaymentInput) -> Customer:
    """Teach the matcher from a match a clerk accepted: the payer's account and name become the customer's.

    The next payment from that account is then recognised by account, and one under that name by
    alias, without a clerk. Nothing is added twice (compared after normalisation), and a payer name
    equal to the customer's own name adds nothing.

    Args:
        customer: The customer the clerk confirmed.
        payment: The payment that was accepted for it.

    Returns:
        A copy of the customer with the new bank account and alias, or the customer unchanged.
    """
    accounts = list(customer.bank_accounts)
    aliases = list(customer.aliases)
    account = payment.payer_account
    if account and normalize_account(account) not in {normalize_account(a) for a in accounts}:
        accounts.append(account.strip())
    name = payment.payer_name
    known_names = {normalize_name(n) for n in (customer.name, *aliases)}
    if name and normalize_name(name) and normalize_name(name) not in known_names:
        aliases.append(name.strip())
    if accounts == customer.bank_accounts and aliases == customer.aliases:
        return customer
    return customer.model_copy(update={"bank_accounts": accounts, "aliases": aliases})
