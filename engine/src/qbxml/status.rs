//! Status codes to typed outcomes, and the QuickBooks permission area each request needs.
//!
//! Codes and messages follow research/qbwc-protocol.md §4 and sources-mapping.md §3.2–3.3.
//! The advice strings are what an operator reads next to a failed job, so they say what to
//! change in QuickBooks or in the source record, not what the code means internally.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a response status means for the job that sent the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The request did what was asked (status 0, or another informational code with data).
    Success,
    /// A query found nothing (status 1). Not an error.
    NoMatch,
    /// A warning (500–999): the request was processed, perhaps incompletely.
    Warning(i32),
    /// A lock or "modified by another user" failure, or a request QuickBooks did not get to:
    /// sending it again later is expected to work.
    Transient(i32),
    /// Sending the same request again will fail the same way; `advice` says what to fix.
    Permanent {
        /// The statusCode.
        code: i32,
        /// Plain-language advice for the operator.
        advice: String,
    },
}

/// Codes that clear by themselves: another user held a lock or changed the list while we
/// wrote (3170, 3175, 3176, 3180), or, in a stopOnError set, QuickBooks never processed the
/// request because an earlier one failed (3231, "The request has not been processed").
const TRANSIENT: [i32; 5] = [3170, 3175, 3176, 3180, 3231];

/// Maps a response status to an [`Outcome`].
pub fn classify(code: i32, severity: &str) -> Outcome {
    match code {
        0 => Outcome::Success,
        1 => Outcome::NoMatch,
        500..=999 => Outcome::Warning(code),
        c if TRANSIENT.contains(&c) => Outcome::Transient(c),
        c if (2..500).contains(&c) && !severity.eq_ignore_ascii_case("Error") => Outcome::Success,
        c if severity.eq_ignore_ascii_case("Warn") => Outcome::Warning(c),
        c => Outcome::Permanent {
            code: c,
            advice: advice(c).into(),
        },
    }
}

fn advice(code: i32) -> &'static str {
    match code {
        1060 => {
            "The requestID is invalid or longer than 50 characters; this is a bug in qbridge or the plugin, please report it."
        }
        3070 => {
            "A text field is longer than QuickBooks allows (names 41 characters, items/accounts/classes 31, most reference numbers 11). Shorten it in the source or in the plugin's mapping."
        }
        3000..=3099 => {
            "QuickBooks rejected the format of a value (an ID, date, number, boolean or text field). Check the record in the source and the plugin's mapping for the field named in the message."
        }
        3100 => {
            "The name is already in use in QuickBooks. Customer, vendor, employee and other names share one list, and item names are shared across item types: rename the record in the source, or map it to the existing QuickBooks record."
        }
        3120 => {
            "The record this request points at (by ListID or TxnID) no longer exists in QuickBooks — it may have been deleted or merged. Re-sync the mapping for it and try again."
        }
        3130 => {
            "The parent record (for example the customer of a job) does not exist in QuickBooks. Create the parent first, or fix the parent's name in the source."
        }
        3140 => {
            "The request refers to a customer, vendor, item, account or class that does not exist in QuickBooks. Create it in QuickBooks (or let the plugin create it first), or fix the name in the source, then retry."
        }
        3171 => {
            "The transaction is dated on or before the company file's closing date. Change the date, or ask the QuickBooks administrator to move the closing date."
        }
        3200 => {
            "Someone changed this record in QuickBooks after qbridge last read it (stale EditSequence). Re-query the record to get its current EditSequence, then send the change again."
        }
        3210 => {
            "QuickBooks refused a value as not allowed here (for example paying more than the amount due). Check the amounts and the record in the source."
        }
        3250 => {
            "This feature is turned off in the company file or missing from this QuickBooks edition (for example class tracking or sales tax). Turn it on in QuickBooks preferences, or stop sending the field."
        }
        3260 => {
            "The QuickBooks user qbridge logs in as does not have permission for this area. Give that user's role access to the area (Company > Users), or choose a Full Access user as 'Login as' under Integrated Applications."
        }
        3261 => {
            "The application is not allowed to access personal data (credit card numbers, SSNs). Allow it under Edit > Preferences > Integrated Applications, or stop sending that data."
        }
        _ => {
            "QuickBooks refused the request. The status message says why; fix the record or the mapping and retry."
        }
    }
}

/// A QuickBooks permission area (an Enterprise role area; [`PermissionArea::pro_name`] gives
/// the Pro/Premier "Set Up User" area).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PermissionArea {
    /// Customers, jobs, invoices, payments received.
    CustomersReceivables,
    /// Vendors, bills, bill payments, purchase orders.
    VendorsPayables,
    /// Checks, credit card charges and credits, deposits.
    Banking,
    /// Shared lists: accounts, items, classes, other names.
    Lists,
    /// The general journal.
    Accounting,
    /// Employees and payroll.
    EmployeesPayroll,
    /// Company information and preferences.
    Company,
}

impl PermissionArea {
    /// Every area.
    pub const ALL: [PermissionArea; 7] = [
        PermissionArea::CustomersReceivables,
        PermissionArea::VendorsPayables,
        PermissionArea::Banking,
        PermissionArea::Lists,
        PermissionArea::Accounting,
        PermissionArea::EmployeesPayroll,
        PermissionArea::Company,
    ];

    /// The area's name in QuickBooks Enterprise roles.
    pub fn enterprise_name(self) -> &'static str {
        match self {
            PermissionArea::CustomersReceivables => "Customers & Receivables",
            PermissionArea::VendorsPayables => "Vendors & Payables",
            PermissionArea::Banking => "Banking",
            PermissionArea::Lists => "Lists",
            PermissionArea::Accounting => "Accounting",
            PermissionArea::EmployeesPayroll => "Employees & Payroll",
            PermissionArea::Company => "Company",
        }
    }

    /// The nearest area in QuickBooks Pro/Premier's user set-up. Pro has no area for the
    /// shared lists or company information (only the Administrator changes the latter).
    pub fn pro_name(self) -> &'static str {
        match self {
            PermissionArea::CustomersReceivables => "Sales and Accounts Receivable",
            PermissionArea::VendorsPayables => "Purchases and Accounts Payable",
            PermissionArea::Banking => "Checking and Credit Cards",
            PermissionArea::Lists => "All areas of QuickBooks",
            PermissionArea::Accounting => "Sensitive Accounting Activities",
            PermissionArea::EmployeesPayroll => "Payroll and Employees",
            PermissionArea::Company => "Administrator only",
        }
    }
}

impl fmt::Display for PermissionArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.enterprise_name())
    }
}

/// The area a request needs, from its element name (`InvoiceAddRq`, `InvoiceAdd`,
/// `InvoiceQueryRs` all work). `None` for requests no role restricts (HostQuery) and for
/// request types this table does not know.
pub fn permission_area(request_type: &str) -> Option<PermissionArea> {
    use PermissionArea::*;
    let name = request_type
        .strip_suffix("Rq")
        .or_else(|| request_type.strip_suffix("Rs"))
        .unwrap_or(request_type);
    let object = ["Add", "Mod", "Query", "Del", "Void"]
        .iter()
        .find_map(|op| name.strip_suffix(op))
        .unwrap_or(name);
    let area = match object {
        "Customer" | "Invoice" | "ReceivePayment" | "SalesReceipt" | "SalesOrder" | "Estimate"
        | "CreditMemo" | "Charge" => CustomersReceivables,
        "Vendor"
        | "Bill"
        | "BillPaymentCheck"
        | "BillPaymentCreditCard"
        | "PurchaseOrder"
        | "VendorCredit"
        | "ItemReceipt" => VendorsPayables,
        "Check" | "CreditCardCharge" | "CreditCardCredit" | "Deposit" | "Transfer" => Banking,
        "JournalEntry" => Accounting,
        "Employee" | "TimeTracking" => EmployeesPayroll,
        "Company" | "Preferences" => Company,
        "Host" => return None,
        "Account" | "Class" | "OtherName" | "Terms" | "StandardTerms" | "SalesTaxCode"
        | "PaymentMethod" | "ShipMethod" | "CustomerType" | "VendorType" => Lists,
        o if o.starts_with("Item") => Lists,
        _ => return None,
    };
    Some(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_outcomes() {
        assert_eq!(classify(0, "Info"), Outcome::Success);
        assert_eq!(classify(1, "Info"), Outcome::NoMatch);
        assert_eq!(classify(530, "Warn"), Outcome::Warning(530));
        assert_eq!(classify(3175, "Error"), Outcome::Transient(3175));
        assert_eq!(classify(3180, "Error"), Outcome::Transient(3180));
        for code in [3100, 3140, 3200, 3260, 3070, 1060, 9999] {
            assert!(
                matches!(classify(code, "Error"), Outcome::Permanent { code: c, .. } if c == code)
            );
        }
    }

    #[test]
    fn advice_names_the_fix() {
        let Outcome::Permanent { advice, .. } = classify(3200, "Error") else {
            panic!("3200 is permanent")
        };
        assert!(advice.contains("Re-query"), "{advice}");
        let Outcome::Permanent { advice, .. } = classify(3260, "Error") else {
            panic!("3260 is permanent")
        };
        assert!(advice.contains("role"), "{advice}");
    }

    #[test]
    fn permission_table_follows_research() {
        assert_eq!(
            permission_area("InvoiceAddRq"),
            Some(PermissionArea::CustomersReceivables)
        );
        assert_eq!(
            permission_area("BillAdd"),
            Some(PermissionArea::VendorsPayables)
        );
        assert_eq!(
            permission_area("BillPaymentCheckAddRq"),
            Some(PermissionArea::VendorsPayables)
        );
        assert_eq!(permission_area("CheckAddRq"), Some(PermissionArea::Banking));
        assert_eq!(
            permission_area("CreditCardChargeAddRq"),
            Some(PermissionArea::Banking)
        );
        assert_eq!(
            permission_area("JournalEntryAddRq"),
            Some(PermissionArea::Accounting)
        );
        assert_eq!(
            permission_area("ItemServiceAddRq"),
            Some(PermissionArea::Lists)
        );
        assert_eq!(
            permission_area("CompanyQueryRq"),
            Some(PermissionArea::Company)
        );
        assert_eq!(permission_area("HostQueryRq"), None);
        assert_eq!(
            PermissionArea::VendorsPayables.to_string(),
            "Vendors & Payables"
        );
        assert_eq!(
            PermissionArea::VendorsPayables.pro_name(),
            "Purchases and Accounts Payable"
        );
    }
}
