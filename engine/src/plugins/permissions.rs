//! The QuickBooks permission areas a plugin needs, derived from the request types it declares
//! (research/sources-mapping.md §3.3). Shown to the admin as the checklist for the dedicated
//! QuickBooks user, and used to explain a 3260 ("insufficient permission") error.

use std::collections::BTreeSet;
use std::fmt;

/// An area of the QuickBooks Desktop user/role permission settings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PermissionArea {
    /// Customers, invoices, payments received, sales receipts, credit memos.
    CustomersReceivables,
    /// Vendors, bills, bill payments, purchase orders.
    VendorsPayables,
    /// Credit card charges and credits.
    BankingCreditCardCharges,
    /// Checks and deposits.
    BankingChecks,
    /// Journal entries ("Sensitive Accounting Activities" in Pro/Premier).
    AccountingGeneralJournal,
    /// The item list (service, non-inventory, other charge items).
    ListsItems,
    /// The chart of accounts.
    ListsChartOfAccounts,
    /// The class list.
    ListsClasses,
    /// Company information (company and host queries).
    Company,
    /// A request type this table does not know yet; named so the admin can look it up.
    Other(String),
}

impl fmt::Display for PermissionArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            PermissionArea::CustomersReceivables => "Customers & Receivables",
            PermissionArea::VendorsPayables => "Vendors & Payables",
            PermissionArea::BankingCreditCardCharges => "Banking (credit card charges)",
            PermissionArea::BankingChecks => "Banking (checks and deposits)",
            PermissionArea::AccountingGeneralJournal => "Accounting (general journal)",
            PermissionArea::ListsItems => "Lists (item list)",
            PermissionArea::ListsChartOfAccounts => "Lists (chart of accounts)",
            PermissionArea::ListsClasses => "Lists (class list)",
            PermissionArea::Company => "Company (company information)",
            PermissionArea::Other(request) => return write!(f, "unknown area (for {request})"),
        };
        f.write_str(text)
    }
}

/// The object a request type works on: `CustomerAdd` → `Customer`, `ItemServiceQuery` →
/// `ItemService`.
fn object_of(request_type: &str) -> &str {
    ["Add", "Mod", "Query", "Del", "Void"]
        .iter()
        .find_map(|op| request_type.strip_suffix(op))
        .unwrap_or(request_type)
}

/// The area one request type needs.
pub fn permission_area(request_type: &str) -> PermissionArea {
    use PermissionArea::*;
    let object = object_of(request_type);
    match object {
        "Customer" | "Invoice" | "ReceivePayment" | "SalesReceipt" | "CreditMemo" | "Estimate"
        | "SalesOrder" | "Charge" => CustomersReceivables,
        "Vendor"
        | "Bill"
        | "BillPaymentCheck"
        | "BillPaymentCreditCard"
        | "PurchaseOrder"
        | "VendorCredit"
        | "ItemReceipt" => VendorsPayables,
        "CreditCardCharge" | "CreditCardCredit" => BankingCreditCardCharges,
        "Check" | "Deposit" => BankingChecks,
        "JournalEntry" => AccountingGeneralJournal,
        "Account" => ListsChartOfAccounts,
        "Class" => ListsClasses,
        "Company" | "Host" | "Preferences" => Company,
        item if item.starts_with("Item") => ListsItems,
        _ => Other(request_type.to_string()),
    }
}

/// The areas a set of request types needs, for the admin checklist and the 3260 advice.
pub fn permission_areas<'a>(
    request_types: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<PermissionArea> {
    request_types.into_iter().map(permission_area).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_types_map_to_their_quickbooks_areas() {
        let areas = permission_areas([
            "CustomerAdd",
            "CustomerQuery",
            "InvoiceAdd",
            "BillPaymentCheckAdd",
            "CreditCardChargeAdd",
            "JournalEntryAdd",
            "ItemServiceAdd",
        ]);
        let names: Vec<String> = areas.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "Customers & Receivables",
                "Vendors & Payables",
                "Banking (credit card charges)",
                "Accounting (general journal)",
                "Lists (item list)",
            ]
        );
    }

    #[test]
    fn queries_need_the_same_area_as_their_list() {
        assert_eq!(permission_area("VendorQuery"), permission_area("VendorAdd"));
        assert_eq!(
            permission_area("ItemServiceQuery"),
            PermissionArea::ListsItems
        );
        assert_eq!(
            permission_area("FrobnicateAdd"),
            PermissionArea::Other("FrobnicateAdd".into())
        );
    }
}
