//! `BillPaymentCheckAdd` and `BillPaymentCreditCardAdd`: paying open bills.

use crate::amount::Amount;
use crate::text::TextPolicy;

use super::common::{BuildError, Built, Date, ID_MAX, Ref, setters};
use super::xml::Writer;

/// One `AppliedToTxnAdd`: how much of which bill this payment pays.
#[derive(Debug, Clone)]
pub struct AppliedToTxn {
    txn_id: String,
    payment_amount: Amount,
    discount_amount: Option<Amount>,
    discount_account_ref: Option<Ref>,
}

impl AppliedToTxn {
    /// Pay `payment_amount` of the bill with TxnID `txn_id`.
    pub fn new(txn_id: impl Into<String>, payment_amount: Amount) -> Self {
        AppliedToTxn {
            txn_id: txn_id.into(),
            payment_amount,
            discount_amount: None,
            discount_account_ref: None,
        }
    }

    setters! {
        /// Early-payment discount taken.
        discount_amount: Amount,
        /// Account the discount is posted to.
        discount_account_ref: Ref,
    }

    fn write(&self, w: &mut Writer) {
        w.id("TxnID", &self.txn_id, ID_MAX);
        w.amount("PaymentAmount", Some(self.payment_amount));
        w.amount("DiscountAmount", self.discount_amount);
        w.reference("DiscountAccountRef", self.discount_account_ref.as_ref());
    }
}

/// A bill payment by check (`BillPaymentCheckAdd`) or by credit card
/// (`BillPaymentCreditCardAdd`).
///
/// ```
/// use qbridge_sdk::amount::Amount;
/// use qbridge_sdk::qbxml::{AppliedToTxn, BillPaymentAdd, Ref};
/// let built = BillPaymentAdd::check(Ref::full_name("Northwind Supplies"), Ref::full_name("Checking"))
///     .ref_number("ACH-7731")
///     .applied_to(AppliedToTxn::new("1A2B-1234567890", Amount::from_cents(1_500_01)))
///     .build()
///     .unwrap();
/// assert!(built.qbxml.contains("<PaymentAmount>1500.01</PaymentAmount>"));
/// ```
#[derive(Debug, Clone)]
pub struct BillPaymentAdd {
    by_check: bool,
    payee_entity_ref: Ref,
    ap_account_ref: Option<Ref>,
    txn_date: Option<Date>,
    account_ref: Ref,
    is_to_be_printed: Option<bool>,
    ref_number: Option<String>,
    memo: Option<String>,
    external_guid: Option<String>,
    applied: Vec<AppliedToTxn>,
    policy: TextPolicy,
}

impl BillPaymentAdd {
    /// `BillPaymentCheckAdd`: pay `payee_entity_ref` from the bank account
    /// `bank_account_ref`. Give a [`ref_number`](Self::ref_number) (check or transfer number)
    /// or mark it [`is_to_be_printed`](Self::is_to_be_printed); without either it is sent as
    /// not to be printed.
    pub fn check(payee_entity_ref: Ref, bank_account_ref: Ref) -> Self {
        Self::new(true, payee_entity_ref, bank_account_ref)
    }

    /// `BillPaymentCreditCardAdd`: pay `payee_entity_ref` with the credit-card account
    /// `credit_card_account_ref`.
    pub fn credit_card(payee_entity_ref: Ref, credit_card_account_ref: Ref) -> Self {
        Self::new(false, payee_entity_ref, credit_card_account_ref)
    }

    fn new(by_check: bool, payee_entity_ref: Ref, account_ref: Ref) -> Self {
        BillPaymentAdd {
            by_check,
            payee_entity_ref,
            ap_account_ref: None,
            txn_date: None,
            account_ref,
            is_to_be_printed: None,
            ref_number: None,
            memo: None,
            external_guid: None,
            applied: Vec::new(),
            policy: TextPolicy::default(),
        }
    }

    setters! {
        /// Accounts-payable account of the bills.
        ap_account_ref: Ref,
        /// Payment date.
        txn_date: Date,
        /// Queue the check for printing (checks only; not together with a RefNumber).
        is_to_be_printed: bool,
        /// Check or reference number (11 characters).
        ref_number: String,
        /// Memo (4095 characters).
        memo: String,
        /// ExternalGUID, e.g. from [`crate::id::external_guid`].
        external_guid: String,
    }

    /// Apply part of the payment to a bill (at least one is required).
    pub fn applied_to(mut self, applied: AppliedToTxn) -> Self {
        self.applied.push(applied);
        self
    }

    /// How text that does not fit is handled (default: transliterate and truncate, noted).
    pub fn policy(mut self, policy: TextPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `<BillPaymentCheckAddRq>` or `<BillPaymentCreditCardAddRq>` element and notes.
    pub fn build(&self) -> Result<Built, BuildError> {
        let request = if self.by_check {
            "BillPaymentCheckAdd"
        } else {
            "BillPaymentCreditCardAdd"
        };
        let mut w = Writer::add(request, self.policy);
        w.reference("PayeeEntityRef", Some(&self.payee_entity_ref));
        w.reference("APAccountRef", self.ap_account_ref.as_ref());
        w.date("TxnDate", self.txn_date);
        if self.by_check {
            w.reference("BankAccountRef", Some(&self.account_ref));
            // The schema requires exactly one of IsToBePrinted and RefNumber.
            match (&self.ref_number, self.is_to_be_printed) {
                (Some(_), Some(true)) => w.fail(BuildError::Missing {
                    request: request.to_owned(),
                    what: "either a RefNumber or IsToBePrinted = true, not both",
                }),
                (Some(number), _) => w.required_text("RefNumber", number, 11),
                (None, printed) => w.boolean("IsToBePrinted", Some(printed.unwrap_or(false))),
            }
        } else {
            w.reference("CreditCardAccountRef", Some(&self.account_ref));
            w.text("RefNumber", self.ref_number.as_deref(), 11);
        }
        w.text("Memo", self.memo.as_deref(), 4095);
        w.guid("ExternalGUID", self.external_guid.as_deref());
        if self.applied.is_empty() {
            w.fail(BuildError::Missing {
                request: request.to_owned(),
                what: "at least one AppliedToTxn (the bill it pays)",
            });
        }
        for (i, applied) in self.applied.iter().enumerate() {
            w.item("AppliedToTxnAdd", i, |w| applied.write(w));
        }
        w.finish()
    }
}
