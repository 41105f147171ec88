//! Follow-ups once QuickBooks accepted a bill: the bill payments, which need the bill's TxnID.
//!
//! `on_response` receives only the request key and the `BillRet` XML, and mappers are
//! stateless, so whatever the payments need must come back in that XML. The bill's memo
//! therefore ends with a compact, versioned **payment plan** written by [`crate::map`]:
//!
//! ```text
//! … src:ramp:bill:<id> qbridge-pay/1;bank=Ramp Bill Pay;card=Ramp Card;B,2025-04-25,10000.00,A6PMDVX628;C,2025-04-28,2500.00,Q9ZK2M1T4B
//! ```
//!
//! (`B` = from the bank account by ACH/check/wire → `BillPaymentCheckAdd`, `C` = by card →
//! `BillPaymentCreditCardAdd`; date, exact amount, Ramp's payment reference; `%`, `;`, `,`
//! and `=` in names are percent-encoded.) It is readable to a person looking at the bill
//! ("paid by ACH on …"), survives any re-run (it is part of the bill's request, not of
//! plugin state), and fits the 4095-character memo: at most [`MAX_PAYMENTS`] payments, the
//! free text before it cut to 1,000 characters. The marker text is neutralised in source
//! memos so a memo cannot smuggle in payments.
//!
//! The payee is the bill's `VendorRef` (its ListID) from the same `BillRet`. Keys:
//! `bill-payment:<bill id>:<payment id>` and `reimbursement-payment:<id>:<payment id>` (Ramp's
//! `customer_friendly_payment_id` / `payment_id`; without one, the payment's place in the plan,
//! from 1), each depending on the bill's key, each with an idempotency probe by its
//! RefNumber. A bill paid after it synced gets its payments from [`crate::map`] directly, under
//! the same keys (see `bill.rs`).

use qbridge_sdk::Request;
use qbridge_sdk::amount::Amount;
use qbridge_sdk::id::{external_guid, memo_marker, ref_number};
use qbridge_sdk::qbxml::{AppliedToTxn, BillPaymentAdd, Date, Ref, TxnKind};

use qbridge_sdk::MapError;
use qbridge_sdk::qbxml::element_text as element;
use qbridge_sdk::record::{key_part, request};

/// Most payments one bill's plan carries (keeps the memo within 4095 characters).
pub const MAX_PAYMENTS: usize = 40;

/// The plan's tag and version.
const TAG: &str = "qbridge-pay/1;";

/// One payment to record once the bill exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPayment {
    /// Paid by card (`BillPaymentCreditCardAdd`) rather than from the bank.
    pub by_card: bool,
    /// Payment date.
    pub date: Date,
    /// Amount paid, applied to the bill.
    pub amount: Amount,
    /// Ramp's payment reference (`customer_friendly_payment_id`, `payment_id`).
    pub reference: Option<String>,
}

/// The payments of one bill and the accounts they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPlan {
    /// Bank account FullName for ACH, check and wire payments.
    pub bank_account: String,
    /// Credit-card account FullName for card payments.
    pub card_account: String,
    /// The payments, in order.
    pub payments: Vec<PlannedPayment>,
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' | ';' | ',' | '=' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn decode(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex: String = chars.by_ref().take(2).collect();
            out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
        } else {
            out.push(c);
        }
    }
    Some(out)
}

impl PaymentPlan {
    /// `memo` followed by the plan (the memo unchanged when there is nothing to pay). Any
    /// plan tag inside `memo` itself is defused first.
    pub fn append_to(&self, memo: &str) -> String {
        let memo = memo.replace("qbridge-pay/", "qbridge-pay_");
        if self.payments.is_empty() {
            return memo;
        }
        let mut plan = format!(
            "{TAG}bank={};card={}",
            encode(&self.bank_account),
            encode(&self.card_account)
        );
        for p in self.payments.iter().take(MAX_PAYMENTS) {
            plan.push_str(&format!(
                ";{},{},{},{}",
                if p.by_card { 'C' } else { 'B' },
                p.date,
                p.amount,
                encode(p.reference.as_deref().unwrap_or(""))
            ));
        }
        format!("{memo} {plan}")
    }

    /// The plan at the end of a bill memo; `None` when the memo has none.
    pub fn parse(memo: &str) -> Result<Option<PaymentPlan>, String> {
        let Some(at) = memo.rfind(TAG) else {
            return Ok(None);
        };
        let bad = |what: &str| {
            format!("the payment plan in the bill memo is damaged ({what}); was the memo edited?")
        };
        let mut parts = memo[at + TAG.len()..].trim_end().split(';');
        let mut account = |name: &str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .and_then(decode)
                .filter(|a| !a.trim().is_empty())
                .ok_or_else(|| bad(name))
        };
        let bank_account = account("bank=")?;
        let card_account = account("card=")?;
        let mut payments = Vec::new();
        for part in parts.take(MAX_PAYMENTS) {
            let fields: Vec<&str> = part.split(',').collect();
            let [kind, date, amount, reference] = fields[..] else {
                return Err(bad("payment fields"));
            };
            payments.push(PlannedPayment {
                by_card: match kind {
                    "C" => true,
                    "B" => false,
                    _ => return Err(bad("payment kind")),
                },
                date: Date::parse(date).map_err(|_| bad("date"))?,
                amount: Amount::parse(amount).map_err(|_| bad("amount"))?,
                reference: Some(decode(reference).ok_or_else(|| bad("reference"))?)
                    .filter(|r| !r.is_empty()),
            });
        }
        Ok(Some(PaymentPlan {
            bank_account,
            card_account,
            payments,
        }))
    }
}

/// Follow-up requests for the completed request `key` whose `*Ret` is `response_xml`: the
/// payments of a bill (`bill:<id>`) or reimbursement (`reimbursement:<id>`); nothing for
/// other keys. An error means the response cannot be read; the glue logs it.
pub fn on_response(key: &str, response_xml: &str) -> Result<Vec<Request>, MapError> {
    let (payment_prefix, id) = if let Some(id) = key.strip_prefix("bill:") {
        ("bill-payment", id)
    } else if let Some(id) = key.strip_prefix("reimbursement:") {
        ("reimbursement-payment", id)
    } else {
        return Ok(Vec::new());
    };
    // Only the bill's header: line and linked-transaction elements have TxnIDs and memos too.
    let header = [
        "<ExpenseLineRet",
        "<ItemLineRet",
        "<LinkedTxn",
        "<ItemGroupLineRet",
    ]
    .iter()
    .filter_map(|t| response_xml.find(t))
    .min()
    .map_or(response_xml, |end| &response_xml[..end]);
    let field = |what: &str| MapError::field(key, format!("the BillRet has no {what}"));
    let memo = element(header, "Memo").unwrap_or_default();
    let Some(plan) = PaymentPlan::parse(&memo).map_err(|e| MapError::field(key, e))? else {
        return Ok(Vec::new());
    };
    let txn_id = element(header, "TxnID").ok_or_else(|| field("TxnID"))?;
    let vendor_xml = header
        .find("<VendorRef>")
        .map(|at| &header[at..])
        .ok_or_else(|| field("VendorRef"))?;
    let payee = match element(vendor_xml, "ListID") {
        Some(id) => Ref::list_id(id),
        None => Ref::full_name(element(vendor_xml, "FullName").ok_or_else(|| field("VendorRef"))?),
    };
    plan.requests(key, payment_prefix, id, &payee, &txn_id)
}

impl PaymentPlan {
    /// The payment requests of the bill (or reimbursement) `id` under `bill_key`, whose
    /// QuickBooks TxnID is `txn_id`, to `payee`: one per payment, keyed
    /// `<prefix>:<id>:<reference>` (Ramp's payment id, else the payment's place in the
    /// plan), each depending on the bill and probed by its RefNumber, so a payment QuickBooks
    /// already has is found rather than made twice, whichever pull brought it.
    pub fn requests(
        &self,
        bill_key: &str,
        prefix: &str,
        id: &str,
        payee: &Ref,
        txn_id: &str,
    ) -> Result<Vec<Request>, MapError> {
        let mut requests = Vec::new();
        for (n, p) in self.payments.iter().enumerate() {
            let part = match &p.reference {
                Some(reference) => key_part(&format!("ramp:{prefix}"), reference),
                None => (n + 1).to_string(),
            };
            let source = format!("{id}:{part}");
            let payment = if p.by_card {
                BillPaymentAdd::credit_card(payee.clone(), Ref::full_name(&self.card_account))
            } else {
                BillPaymentAdd::check(payee.clone(), Ref::full_name(&self.bank_account))
            };
            let number = ref_number("", p.reference.as_deref().unwrap_or(&source), 11)
                .map_err(|e| MapError::field(bill_key, e.to_string()))?;
            let built = payment
                .txn_date(p.date)
                .ref_number(number.clone())
                .memo(memo_marker(&format!("ramp:{prefix}:{source}")))
                .external_guid(external_guid(&format!("ramp:{prefix}"), &source))
                .applied_to(AppliedToTxn::new(txn_id.to_string(), p.amount))
                .build();
            let kind = if p.by_card {
                TxnKind::BillPaymentCreditCard
            } else {
                TxnKind::BillPaymentCheck
            };
            let mut req = request(built, &format!("{prefix}:{source}"), bill_key)?;
            req.depends_on = vec![bill_key.to_string()];
            req.probe = Some(crate::map::probe(kind, &number)?);
            requests.push(req);
        }
        Ok(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_survives_encoding_with_awkward_account_names() {
        let plan = PaymentPlan {
            bank_account: "Bank; 100%, main=1".into(),
            card_account: "Ramp Card".into(),
            payments: vec![PlannedPayment {
                by_card: true,
                date: Date::new(2025, 4, 28).unwrap(),
                amount: Amount::parse("2500.005").unwrap(),
                reference: None,
            }],
        };
        let memo =
            plan.append_to("Paid qbridge-pay/1;bank=x;card=y;B,2025-01-01,1.00, src:ramp:bill:1");
        assert_eq!(PaymentPlan::parse(&memo).unwrap(), Some(plan));
        assert_eq!(PaymentPlan::parse("no plan").unwrap(), None);
        assert!(PaymentPlan::parse("qbridge-pay/1;bank=a;card=b;X,1,2,3").is_err());
    }
}
